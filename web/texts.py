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
        "noTracks": "所选日期没有已存轨迹", "loadingPatrols": "正在载入轨迹和巡查达标…",
        "patrolClipped": "轨迹和巡查达标一次最多显示 {days} 天，现显示 {since} 至 {until}",
        "listSeparator": "；", "dateUnfinished": "：日期未填完或无效",
        "untilBeforeSince": "止日期早于起日期",
        "noReportsHere": "暂无事件",
        "fewer": "少", "heatMax": "最密一格 {n} 件", "perKm2": "{n} 件/平方公里",
        "bandwidth": "核带宽 {m} 米", "markersLegend": "圆圈中的数字为该处事件数",
        "routesLegend": "计划巡逻路线", "tracksLegend": "已存或上传的巡查轨迹",
        "risk_red": "红 重大", "risk_orange": "橙 较大", "risk_yellow": "黄 一般",
        "risk_blue": "蓝 低", "hotSpot": "热点 {p}%", "coldSpot": "冷点 {p}%",
        "notSignificant": "不显著", "perHexagon": "每六边形每周事件数",
        "complianceTitle": "巡查达标（每天 {n} 次）", "compliance_met": "达标：每天都够",
        "compliance_partly": "部分达标：有几天够", "compliance_short": "不足：巡过，没有一天够",
        "compliance_never": "从未巡查",
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
        "loadingPatrols": "Loading tracks and compliance…",
        "patrolClipped": "Tracks and compliance show at most {days} days at once: "
        "showing {since} to {until}",
        "listSeparator": ". ", "dateUnfinished": ": the date is unfinished or not valid",
        "untilBeforeSince": "'To' is before 'From'",
        "noReportsHere": "no reports",
        "fewer": "fewer", "heatMax": "busiest cell: {n}", "perKm2": "{n} reports per km²",
        "bandwidth": "kernel bandwidth {m} m",
        "markersLegend": "a circle's number counts the reports there",
        "routesLegend": "planned patrol route", "tracksLegend": "stored or uploaded patrol tracks",
        "risk_red": "red: major", "risk_orange": "orange: considerable",
        "risk_yellow": "yellow: general", "risk_blue": "blue: low",
        "hotSpot": "hot spot {p} %", "coldSpot": "cold spot {p} %",
        "notSignificant": "not significant", "perHexagon": "reports per hexagon a week",
        "complianceTitle": "Patrol compliance ({n} a day)",
        "compliance_met": "met: enough every day",
        "compliance_partly": "partly: enough on some days",
        "compliance_short": "short: patrolled, never enough", "compliance_never": "never patrolled",
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
