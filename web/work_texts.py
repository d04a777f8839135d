"""The words of the work queue (待办) and the report page, Chinese first, English second.

The pages' templates and web/static/work/work.js read the same table; the words
the commander's map adds for its 预警 layer are :data:`MAP_TEXTS`. A test checks
that both languages have every word.

Examples
--------
>>> sorted(TEXTS) == sorted(MAP_TEXTS) == ["en", "zh"]
True
>>> set(TEXTS["zh"]) == set(TEXTS["en"])
True
"""

from __future__ import annotations

from web.texts import language

TEXTS = {
    "zh": {
        "title": "待办", "reportTitle": "事件", "other_language": "English", "map": "地图",
        "mine": "我的待办", "allOpen": "全部（辖区内未结事件）", "filters": "筛选",
        "status": "状态", "category": "类别", "grid": "网格", "source": "来源",
        "since": "起", "until": "止", "warning": "预警", "any": "全部",
        "overdueOnly": "仅超期", "nearlyOnly": "仅将超期",
        "reset": "清除",
        "col_ticket": "编号", "col_category": "类别", "col_grid": "网格", "col_status": "状态",
        "col_assignee": "承办人", "col_deadline": "时限", "col_received": "受理时间",
        "col_result": "结果", "overdue": "超期", "nearly": "将超期",
        "left": "剩 {t}", "late": "超 {t}", "days": "天", "hours": "小时", "minutes": "分钟",
        "noDeadline": "无时限", "nobody": "—", "empty": "没有待办事件",
        "loading": "载入中…", "page": "第 {from}–{to} 条，共 {total} 条",
        "prev": "上一页", "next": "下一页", "selectAll": "全选本页",
        "selected": "已选 {n} 件", "bulk": "批量办理",
        "bulkRegister": "批量登记", "bulkDispatch": "批量分拨", "bulkVerify": "批量核查通过",
        "bulkClose": "批量结案", "bulkSameStatus": "所选事件状态须相同，且可同一步办理",
        "bulkDone": "完成 {ok} 件，失败 {bad} 件", "done": "已办理",
        "inbox": "提醒", "inboxEmpty": "没有提醒", "markRead": "全部标为已读",
        "kind_dispatched": "分拨给我", "kind_nearly_overdue": "将超期",
        "kind_overdue": "已超期", "kind_escalated": "超期升级", "kind_returned": "退回重办",
        "details": "详情", "ticket": "编号", "description": "描述", "reportedAt": "上报时间",
        "receivedAt": "受理时间", "deadline": "办结时限", "updatedAt": "更新时间",
        "closedAt": "结案时间", "assignee": "承办人", "assignedAt": "分拨时间",
        "handler": "处置网格", "grids": "所在网格", "contact": "联系人", "photos": "照片",
        "noPhotos": "没有照片", "history": "办理经过", "actions": "办理",
        "noActions": "当前状态下您没有可办理的操作", "escalations": "升级次数",
        "returns": "退回次数", "rating": "满意度", "location": "位置",
        "act_register": "登记", "act_dispatch": "分拨", "act_redispatch": "改派",
        "act_handle": "开始处置", "act_feedback": "反馈", "act_verify": "核查通过",
        "act_return": "退回重办", "act_close": "结案", "act_reject": "不予受理",
        "assignTo": "承办人（部门或网格员）", "pickAssignee": "— 选择承办人 —",
        "deadlineInput": "办结时限", "categoryDefault": "类别默认时限：{rule}",
        "keepDeadline": "不修改则按原时限 {at}", "note": "意见", "noteRequired": "须填写意见",
        "notePublic": "意见（反映人可见）",
        "photosInput": "照片", "uploading": "正在上传照片…", "working": "办理中…",
        "moved": "事件已被他人办理，已重新载入", "needAssignee": "请选择承办人",
        "h_received": "受理", "h_transition": "流转", "h_escalated": "超期升级",
        "h_reassigned": "边界调整，重新分派", "h_redispatched": "改派", "h_returned": "退回重办",
        "h_rejected": "不予受理", "h_dispatchTo": "分拨给 {who}，时限 {at}",
        "h_handedUp": "由 {from} 升级至 {to}", "h_by": "办理人", "system": "系统",
        "notFound": "事件不存在，或不在您的管辖范围内", "backToQueue": "返回待办",
        "unit_hours": "小时", "unit_days": "天", "unit_working_hours": "工作小时",
        "unit_working_days": "个工作日", "full": "原图", "close": "关闭",
    },
    "en": {
        "title": "Work queue", "reportTitle": "Report", "other_language": "中文", "map": "Map",
        "mine": "My work", "allOpen": "All open in my area", "filters": "Filters",
        "status": "Status", "category": "Category", "grid": "Grid", "source": "Source",
        "since": "From", "until": "To", "warning": "Warning", "any": "All",
        "overdueOnly": "Overdue only", "nearlyOnly": "Nearly overdue only",
        "reset": "Clear",
        "col_ticket": "Number", "col_category": "Category", "col_grid": "Grid",
        "col_status": "Status", "col_assignee": "Assignee", "col_deadline": "Deadline",
        "col_received": "Received", "col_result": "Result", "overdue": "Overdue",
        "nearly": "Nearly overdue", "left": "{t} left", "late": "{t} late", "days": "d",
        "hours": "h", "minutes": "min", "noDeadline": "no deadline", "nobody": "—",
        "empty": "Nothing to do", "loading": "Loading…",
        "page": "{from}–{to} of {total}", "prev": "Previous", "next": "Next",
        "selectAll": "Select this page", "selected": "{n} selected", "bulk": "Bulk action",
        "bulkRegister": "Register all", "bulkDispatch": "Dispatch all",
        "bulkVerify": "Pass all", "bulkClose": "Close all",
        "bulkSameStatus": "The selected reports must share a status that allows one step",
        "bulkDone": "{ok} done, {bad} failed", "done": "Done",
        "inbox": "Alerts", "inboxEmpty": "No alerts", "markRead": "Mark all read",
        "kind_dispatched": "Dispatched to me", "kind_nearly_overdue": "Nearly overdue",
        "kind_overdue": "Overdue", "kind_escalated": "Escalated",
        "kind_returned": "Returned for rework",
        "details": "Details", "ticket": "Number", "description": "Description",
        "reportedAt": "Reported", "receivedAt": "Received", "deadline": "Deadline",
        "updatedAt": "Updated", "closedAt": "Closed", "assignee": "Assignee",
        "assignedAt": "Dispatched", "handler": "Handling grid", "grids": "Grids",
        "contact": "Contact", "photos": "Photos", "noPhotos": "No photos",
        "history": "History", "actions": "Actions",
        "noActions": "You have no action to take on this report now",
        "escalations": "Escalations", "returns": "Returns", "rating": "Satisfaction",
        "location": "Location",
        "act_register": "Register", "act_dispatch": "Dispatch", "act_redispatch": "Re-dispatch",
        "act_handle": "Start handling", "act_feedback": "Report back",
        "act_verify": "Pass", "act_return": "Return for rework", "act_close": "Close",
        "act_reject": "Do not accept",
        "assignTo": "Assignee (department or grid worker)", "pickAssignee": "— pick one —",
        "deadlineInput": "Deadline", "categoryDefault": "Category's deadline: {rule}",
        "keepDeadline": "Unchanged, it stays {at}", "note": "Note",
        "notePublic": "Note (the reporter sees it)",
        "noteRequired": "A note is required", "photosInput": "Photos",
        "uploading": "Uploading photos…", "working": "Working…",
        "moved": "Someone else has moved this report on; reloaded",
        "needAssignee": "Pick an assignee",
        "h_received": "Received", "h_transition": "Step", "h_escalated": "Escalated (overdue)",
        "h_reassigned": "Boundaries changed: reassigned", "h_redispatched": "Re-dispatched",
        "h_returned": "Returned for rework", "h_rejected": "Not accepted",
        "h_dispatchTo": "dispatched to {who}, due {at}", "h_handedUp": "handed from {from} to {to}",
        "h_by": "by", "system": "system",
        "notFound": "No such report, or it is not in your area", "backToQueue": "Back to the queue",
        "unit_hours": "hours", "unit_days": "days", "unit_working_hours": "working hours",
        "unit_working_days": "working days", "full": "Full size", "close": "Close",
    },
}  # fmt: skip

#: The words the commander's map adds (its 预警 layer and the link to the queue).
MAP_TEXTS = {
    "zh": {"warnings": "预警", "warningsLegend_overdue": "超期",
           "warningsLegend_nearly": "将超期", "workQueue": "待办"},
    "en": {"warnings": "Warnings", "warningsLegend_overdue": "overdue",
           "warningsLegend_nearly": "nearly overdue", "workQueue": "Work queue"},
}  # fmt: skip


def work_texts() -> dict[str, str]:
    """The words of the work pages in the request's language."""
    return TEXTS[language()]


def map_texts() -> dict[str, str]:
    """The words the commander's map adds, in the request's language."""
    return MAP_TEXTS[language()]
