"""The words of the grid worker's phone page, Chinese first and English second (``?lang=en``).

The page's template and web/static/phone/phone.js read the same table; a test
checks that both languages have every word.
"""

from __future__ import annotations

from web.texts import language

TEXTS = {
    "zh": {
        "title": "网格员", "tasks": "我的任务", "report": "上报", "patrol": "巡查",
        "outbox": "待发送", "offline": "离线：操作先存在手机上，联网后自动发送",
        "online": "在线", "refresh": "刷新", "noTasks": "暂无待办任务",
        "cachedTasks": "离线显示上次载入的任务", "loading": "正在载入…",
        "back": "返回", "deadline": "期限", "received": "受理", "status": "状态",
        "category": "类别", "description": "描述", "history": "办理经过", "photos": "照片",
        "overdue": "超期", "nearly": "即将超期", "start": "开始处置", "feedback": "反馈",
        "feedbackNote": "处置情况", "addPhotos": "拍照或选择照片", "send": "提交",
        "queued": "已存入待发送", "position": "位置", "locate": "重新定位",
        "locating": "正在定位…", "noPosition": "未取得位置：请允许定位后重试",
        "accuracy": "精度约 {m} 米", "pickCategory": "— 选择类别 —",
        "needCategory": "请选择类别", "needPosition": "还没有位置", "needNote": "请填写处置情况",
        "checkin": "签到", "checkinNote": "备注（可不填）", "checkedIn": "已签到",
        "trackStart": "开始记录轨迹", "trackStop": "结束记录轨迹",
        "recording": "正在记录：{n} 个点，{min} 分钟", "trackEmpty": "未记录到位置，轨迹未保存",
        "trackSaved": "轨迹已存入待发送（{n} 个点）", "trackName": "巡查 {when}",
        "sendNow": "立即发送", "nothingPending": "没有待发送的操作",
        "state_pending": "待发送", "state_sending": "发送中", "state_done": "已发送",
        "state_failed": "失败",
        "kind_report": "上报", "kind_media": "照片", "kind_transition": "处置/反馈",
        "kind_checkin": "签到", "kind_track": "轨迹",
        "signInAgain": "登录已过期：请重新登录后再发送", "signIn": "登录",
        "retryLater": "网络不通，稍后自动重试", "removeDone": "清除已发送",
        "reportFirst": "上报未能保存", "photoTooMany": "最多 {n} 张照片",
        "status_received": "已受理", "status_registered": "已登记", "status_dispatched": "已分拨",
        "status_in_progress": "处置中", "status_feedback": "已反馈", "status_verified": "已核查",
        "status_closed": "已结案", "grid": "网格", "otherLanguage": "English", "signOut": "退出",
    },
    "en": {
        "title": "Grid worker", "tasks": "My tasks", "report": "Report", "patrol": "Patrol",
        "outbox": "Outbox", "offline": "Offline: actions are kept on the phone and sent "
        "when the network returns", "online": "Online", "refresh": "Refresh",
        "noTasks": "Nothing to do", "cachedTasks": "Offline: the tasks as last loaded",
        "loading": "Loading…", "back": "Back", "deadline": "Deadline", "received": "Received",
        "status": "Status", "category": "Category", "description": "Description",
        "history": "History", "photos": "Photos", "overdue": "Overdue",
        "nearly": "Nearly overdue", "start": "Start handling", "feedback": "Report back",
        "feedbackNote": "What was done", "addPhotos": "Take or choose photos", "send": "Send",
        "queued": "Put in the outbox", "position": "Position", "locate": "Locate again",
        "locating": "Locating…", "noPosition": "No position: allow location and try again",
        "accuracy": "about {m} m", "pickCategory": "— choose a category —",
        "needCategory": "Choose a category", "needPosition": "No position yet",
        "needNote": "Say what was done", "checkin": "Check in",
        "checkinNote": "Note (optional)", "checkedIn": "Checked in",
        "trackStart": "Start recording a track", "trackStop": "Stop recording",
        "recording": "Recording: {n} points, {min} min",
        "trackEmpty": "No positions recorded; no track kept",
        "trackSaved": "Track put in the outbox ({n} points)", "trackName": "Patrol {when}",
        "sendNow": "Send now", "nothingPending": "Nothing waiting to be sent",
        "state_pending": "waiting", "state_sending": "sending", "state_done": "sent",
        "state_failed": "failed",
        "kind_report": "Report", "kind_media": "Photo", "kind_transition": "Step",
        "kind_checkin": "Check-in", "kind_track": "Track",
        "signInAgain": "Signed out: sign in again to send", "signIn": "Sign in",
        "retryLater": "No network; will retry", "removeDone": "Clear sent",
        "reportFirst": "the report was not stored", "photoTooMany": "at most {n} photos",
        "status_received": "received", "status_registered": "registered",
        "status_dispatched": "dispatched", "status_in_progress": "in progress",
        "status_feedback": "reported back", "status_verified": "verified",
        "status_closed": "closed", "grid": "Grid", "otherLanguage": "中文", "signOut": "Sign out",
    },
}  # fmt: skip


def phone_texts() -> dict[str, str]:
    """The words of the phone page in its language.

    Examples
    --------
    >>> from flask import Flask
    >>> with Flask(__name__).test_request_context("/m/?lang=en"):
    ...     phone_texts()["tasks"]
    'My tasks'
    """
    return TEXTS[language()]
