"""The work queue and a report's page in a real browser: headless Chromium, the tiny district.

A commander signs in and finds the overdue report first in the queue, registers it
and dispatches it to a grid worker (a deadline in the past is refused, and the page
says why); the grid worker starts and reports back with a photo; the commander
returns it for rework once, then passes and closes it; the report's timeline shows
every step, the escalation it had before with its grids, the return with its note.
Bulk 登记 registers several received reports at once and shows, per row, the one
that someone else moved on meanwhile. On the commander's map the 预警 layer marks
overdue reports red and nearly overdue ones amber, and a link leads to the queue.

The reports are made by stores whose clocks read long ago, so at the app's fixed
:data:`NOW` one is overdue and one nearly overdue, whatever the day the tests run.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from geogrid.clock import fixed_clock
from geogrid.reports import NewReport
from geogrid.storage import open_store
from tests.conftest import SOUTH, STEP, WEST, write_tiny_district
from tests.web.conftest import NOW, served
from tests.web.test_browser import (  # noqa: F401 (fixtures, used by name)
    READY,
    browser,
    new_page,
)

PASSWORD = "correct horse battery"
#: Received a month before NOW: long past its 24-hour deadline.
LONG_AGO = NOW - timedelta(days=30)
#: Received 20 hours before NOW: 83 % of its 24 hours gone, past the 80 % warning share.
LATE_YESTERDAY = NOW - timedelta(hours=20)
#: Ready: the first load done and no change on its way.
SETTLED = "() => document.body.dataset.ready === 'true' && document.body.dataset.busy === 'false'"


def in_grid(code: str, dx: float = 0.3, dy: float = 0.3) -> tuple[float, float]:
    """A point inside a grid of the tiny district (101…104 east street, 201…204 west)."""
    street, number = int(code[0]) - 1, int(code[-1]) - 1  # number = 2 × column + row
    return (WEST + (2 * street + number // 2 + dx) * STEP, SOUTH + (number % 2 + dy) * STEP)


def report(category: str, code: str, key: str, text: str, dx: float = 0.3) -> NewReport:
    lon, lat = in_grid(code, dx)
    return NewReport(category, lon, lat, source="hotline", external_id=key, description=text)


def add_at(url: str, when, reports: list[NewReport], escalate_at=None) -> list[int]:
    """Store ``reports`` through a store whose clock reads ``when``; their ids.

    With ``escalate_at``, overdue reports are handed up a level then (超期升级), and
    stay overdue at :data:`NOW` with the new deadline the escalation gave them.
    """
    past = open_store(url, clock=fixed_clock(when))
    try:
        ids = [r.id for r in past.add_reports(reports, actor="test")]
        if escalate_at is not None:
            past.escalate_overdue(escalate_at)
        return ids
    finally:
        past.close()


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    """The tiny district with a commander, a grid worker of grid 101 and reports of every age."""
    from web import create_app
    from web.state import store

    folder = tmp_path_factory.mktemp("work")
    url = f"sqlite:///{folder / 'work.db'}"
    app = create_app({"STORE": url, "MANIFEST": str(write_tiny_district(folder / "district")),
                      "TILES": "none", "CLOCK": fixed_clock(NOW),
                      "MEDIA_FOLDER": str(folder / "media")})  # fmt: skip
    with app.app_context():
        accounts = store().accounts  # the district is imported on first use
        accounts.add_user("li.si", "commander", None, display_name="李四", password=PASSWORD,
                          actor="test")  # fmt: skip
        accounts.add_user("zhang.san", "grid_worker", ["101"], display_name="张三",
                          password=PASSWORD, actor="test")  # fmt: skip
    late = report("fire.ebike", "102", "w-late", "楼道电动车充电")
    noise = [report("city.noise", "201", f"w-b{i}", f"夜间施工噪音 {i}", dx=0.1 + 0.2 * i)
             for i in range(4)]  # fmt: skip
    old = [report("fire.lane", "101", "w-old", "消防通道堵塞"),
           report("fire.lane", "103", "w-old-2", "消防通道又堵塞")]  # fmt: skip
    escalated = LONG_AGO + timedelta(days=3)
    ids = {"overdue": add_at(url, LONG_AGO, old, escalated),
           "nearly": add_at(url, LATE_YESTERDAY, [late]),
           "bulk": add_at(url, NOW, noise)}  # fmt: skip
    with served(app) as base:
        yield {"app": app, "base": base, "ids": ids}


def sign_in(page, base: str, name: str, path: str = "/work") -> None:
    page.goto(base + path)
    page.wait_for_url("**/login?**")
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"**{path}*")
    if path.startswith("/work"):
        settle(page)


def settle(page) -> None:
    page.wait_for_function(SETTLED)


def unexpected(page) -> list[str]:
    """What went wrong on the page, less the refusals the test asks for (400, 409)."""
    asked = re.compile(r"(40[09]: |console error: Failed to load .* 40[09] ).*/transitions\)?$")
    return [p for p in page.problems if "favicon.ico" not in p and not asked.match(p)]


def step(page, button: str, status: str) -> None:
    """Click one of the report's actions and wait for the status it leads to."""
    page.locator(f"#wk-do-{button}").click()
    expect(page.locator("#wk-report-status")).to_have_text(status)
    settle(page)


def open_report(page, base: str, report_id: int) -> None:
    page.goto(f"{base}/work/reports/{report_id}")
    settle(page)


def photo(folder) -> str:
    from PIL import Image

    path = folder / "lane.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(path)
    return str(path)


def test_a_report_goes_round_the_loop_in_the_work_pages(browser, office, tmp_path):  # noqa: F811
    base, overdue = office["base"], office["ids"]["overdue"][0]
    with new_page(browser) as commander, new_page(browser) as worker:
        sign_in(commander, base, "li.si")
        rows = commander.locator("#wk-queue tbody tr")
        first, third = rows.nth(0), rows.nth(2)
        assert first.get_attribute("data-id") == str(overdue)  # overdue first, then nearly
        expect(first.locator(".wk-badge")).to_have_text("超期")
        expect(rows.nth(1).locator(".wk-badge")).to_have_text("超期")
        expect(third.locator(".wk-badge")).to_have_text("将超期")
        expect(first.locator(".wk-status")).to_have_text("受理")

        first.locator("a").first.click()
        commander.wait_for_url(f"**/work/reports/{overdue}")
        settle(commander)
        assert commander.locator("#wk-map path").count() >= 2  # its grid and its point
        expect(commander.locator(".wk-grids")).to_contain_text("第1网格")
        step(commander, "register", "登记")

        # A deadline in the past is refused, and the page says why; nothing moves.
        commander.select_option("#wk-assignee-dispatch", "zhang.san")
        commander.fill("#wk-deadline-dispatch", "2026-12-01T10:00")
        commander.locator("#wk-do-dispatch").click()
        expect(commander.locator("#wk-message")).to_contain_text("deadline")
        expect(commander.locator("#wk-message")).to_have_class("bad")
        expect(commander.locator("#wk-report-status")).to_have_text("登记")
        # It is overdue: a later deadline would make it on time again, so it keeps its own.
        commander.fill("#wk-deadline-dispatch", "2026-12-09T17:30")
        commander.locator("#wk-do-dispatch").click()
        expect(commander.locator("#wk-message")).to_contain_text("overdue")
        expect(commander.locator("#wk-report-status")).to_have_text("登记")
        commander.eval_on_selector("#wk-deadline-dispatch", "e => { e.value = e.dataset.initial; }")
        step(commander, "dispatch", "分拨")
        expect(commander.locator("#wk-facts")).to_contain_text("zhang.san")

        # The grid worker finds it in their queue and in their alerts, starts, reports back.
        sign_in(worker, base, "zhang.san")
        assert int(worker.locator("#wk-bell-count").inner_text()) >= 1
        worker.locator(f"#wk-queue tr[data-id='{overdue}'] a").first.click()
        worker.wait_for_url(f"**/work/reports/{overdue}")
        settle(worker)
        step(worker, "handle", "处置")
        worker.fill("#wk-note-feedback", "已清理通道")
        worker.set_input_files("#wk-photos-feedback", photo(tmp_path))
        step(worker, "feedback", "反馈")
        expect(worker.locator("#wk-photos img")).to_have_count(1)

        # Returned once for rework: a note is required, then it goes back to the worker.
        open_report(commander, base, overdue)
        commander.locator("#wk-do-return").click()
        expect(commander.locator("#wk-message")).to_have_text("须填写意见")
        commander.fill("#wk-note-return", "照片看不清，请重拍")
        step(commander, "return", "处置")
        open_report(worker, base, overdue)
        worker.fill("#wk-note-feedback", "已重新拍照")
        step(worker, "feedback", "反馈")

        open_report(commander, base, overdue)
        step(commander, "verify", "核查")
        step(commander, "close", "结案")
        expect(commander.locator("#wk-action-forms")).to_contain_text("没有可办理的操作")

        timeline = commander.locator("#wk-timeline li")
        moves = [m for m in timeline.evaluate_all("items => items.map(i => i.dataset.to)") if m]
        assert moves[-8:] == ["registered", "dispatched", "in_progress", "feedback",
                              "in_progress", "feedback", "verified", "closed"]  # fmt: skip
        escalation = commander.locator("#wk-timeline li.wk-h-escalated")
        expect(escalation).to_contain_text("由 第1网格 101 升级至 东街道 1")
        returned = commander.locator("#wk-timeline li.wk-h-returned")
        expect(returned).to_have_count(1)
        expect(returned).to_contain_text("照片看不清，请重拍")
        expect(commander.locator("#wk-timeline li[data-to='dispatched']")).to_contain_text(
            "zhang.san"
        )
        assert unexpected(commander) == [] and unexpected(worker) == []


def test_bulk_registering_shows_each_rows_result(browser, office):  # noqa: F811
    from web.state import store

    base, bulk = office["base"], office["ids"]["bulk"]
    with new_page(browser) as commander:
        sign_in(commander, base, "li.si", "/work")
        commander.select_option("#wk-status", "received")
        settle(commander)
        commander.wait_for_selector(f"#wk-queue tr[data-id='{bulk[0]}']")
        # Someone else registers one of them after the page loaded it.
        with office["app"].app_context():
            store().transition(bulk[3], "registered", actor="test", expected="received")
        for report_id in bulk:
            commander.locator(f"#wk-queue tr[data-id='{report_id}'] .wk-check").check()
        expect(commander.locator("#wk-selected")).to_have_text("已选 4 件")
        commander.get_by_role("button", name="批量登记").click()
        expect(commander.locator("#wk-message")).to_have_text("完成 3 件，失败 1 件")
        for report_id in bulk[:3]:
            row = commander.locator(f"#wk-queue tr[data-id='{report_id}']")
            expect(row.locator(".wk-result")).to_have_text("已办理 · 登记")
            expect(row.locator(".wk-status")).to_have_text("登记")
        moved = commander.locator(f"#wk-queue tr[data-id='{bulk[3]}'] .wk-result")
        expect(moved).to_contain_text("registered now")
        assert unexpected(commander) == []
    with office["app"].app_context():
        assert [store().get_report(i).status for i in bulk] == ["registered"] * 4


#: The fill colours of the map's circle marks: the 预警 layer's.
MARKS = """() => {
    const map = window[window.GEOGRID.map], found = [];
    map.eachLayer(layer => {
        if (layer instanceof window.L.CircleMarker) { found.push(layer.options.fillColor); }
    });
    return found.sort();
}"""


def test_the_commander_map_shows_warnings_and_leads_to_the_queue(browser, office):  # noqa: F811
    base = office["base"]
    with new_page(browser) as commander:
        sign_in(commander, base, "li.si", "/")
        commander.wait_for_function(READY)
        assert commander.evaluate(MARKS) == []  # the layer is off at first
        overlays = commander.locator(".leaflet-control-layers-overlays label")
        overlays.filter(has_text="预警").locator("input").check()
        commander.wait_for_function(f"() => ({MARKS})().length >= 2")
        colours = commander.evaluate(MARKS)
        assert "#d73027" in colours and "#f39c12" in colours  # overdue red, nearly amber
        expect(commander.locator("[data-legend='warnings']")).to_contain_text("将超期")
        commander.locator("#geogrid-work").click()
        commander.wait_for_url("**/work")
        settle(commander)
        assert unexpected(commander) == []
