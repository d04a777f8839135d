"""The words of the pages, Chinese first and English second (``?lang=en``)."""

from __future__ import annotations

from flask import request

TEXTS = {
    "zh": {
        "title": "网格地图", "generation": "边界版本", "filters": "筛选", "since": "起",
        "until": "止", "category": "类别", "status": "状态", "all": "全部",
        "openOnly": "未结案", "heat": "热力图", "choropleth": "网格事件数",
        "markers": "事件点位", "reports": "件", "reportsPerGrid": "每网格事件数",
        "zoomForMarkers": "放大查看事件点位", "showing": "显示", "households": "户数",
        "open": "未结案", "overdue": "超期", "total": "总数", "details": "网格详情",
        "children": "下级网格", "population": "人口", "level": "层级",
        "recent": "最近事件", "received": "受理时间", "handler": "处置网格", "back": "返回地图",
        "other_language": "English", "no_reports": "暂无事件", "routes": "巡逻路线",
        "risk": "四色风险", "density": "核密度", "spots": "冷热点 Gi*", "frames": "逐周变化",
        "tracks": "巡查轨迹 GPX", "compliance": "巡查达标", "trackLines": "轨迹",
        "noTracks": "所选日期没有已存轨迹",
        "patrolClipped": "轨迹和巡查达标一次最多显示 {days} 天，现显示 {since} 至 {until}",
        "listSeparator": "；", "dateUnfinished": "：日期未填完或无效",
        "untilBeforeSince": "止日期早于起日期",
        "patrols": "巡查次数", "minutes": "分钟步行",
    },
    "en": {
        "title": "Grid map", "generation": "boundaries", "filters": "Filters", "since": "From",
        "until": "To", "category": "Category", "status": "Status", "all": "All",
        "openOnly": "Open", "heat": "Heat map", "choropleth": "Reports per grid",
        "markers": "Reports", "reports": "reports", "reportsPerGrid": "Reports per grid",
        "zoomForMarkers": "Zoom in to see reports", "showing": "Showing",
        "households": "Households", "open": "Open", "overdue": "Overdue", "total": "Total",
        "details": "Grid details", "children": "Child grids", "population": "Population",
        "level": "Level", "recent": "Recent reports", "received": "Received",
        "handler": "Handled by", "back": "Back to the map", "other_language": "中文",
        "no_reports": "No reports", "routes": "Patrol routes", "risk": "Four-colour risk",
        "density": "Kernel density", "spots": "Hot spots (Gi*)", "frames": "Week by week",
        "tracks": "Patrol tracks (GPX)", "compliance": "Patrol compliance", "trackLines": "Tracks",
        "noTracks": "No stored tracks on the chosen days",
        "patrolClipped": "Tracks and compliance show at most {days} days at once: "
        "showing {since} to {until}",
        "listSeparator": ". ", "dateUnfinished": ": the date is unfinished or not valid",
        "untilBeforeSince": "'To' is before 'From'",
        "patrols": "patrols", "minutes": "min walk",
    },
}  # fmt: skip


def language() -> str:
    """``zh`` unless the page was asked for in English.

    Examples
    --------
    >>> from flask import Flask
    >>> with Flask(__name__).test_request_context("/?lang=en"):
    ...     language()
    'en'
    """
    return "en" if request.args.get("lang") == "en" else "zh"


def texts() -> dict[str, str]:
    """The words of the page in its language."""
    return TEXTS[language()]
