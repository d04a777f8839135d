"""The redraw studio in a real browser: headless Chromium against the sample district.

The served demo's draft ("2027 年度网格调整", made by the ``DEMO_DRAFT`` setting from
the 2027 household survey) redraws community 330399001010, whose grids 003 and 004
grew far past 300–500 households. A planner signs in, paints units with the mouse
and sees the statistics follow, proposes and submits; a commander approves and
publishes, and the new generation is the active one.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.web.conftest import NOW, served
from tests.web.test_browser import (  # noqa: F401 (fixtures, used by name)
    SAMPLE_MANIFEST,
    browser,
    new_page,
)

PASSWORD = "correct horse battery"
PARENT = "330399001010"
DEMO = f"{PARENT}:data/boundaries/survey-2027.csv:2027 年度网格调整"
#: The studio has loaded its draft and nothing is on its way.
SETTLED = ("() => document.body.dataset.ready === 'true' && document.body.dataset.draft"
           " && document.body.dataset.busy === 'false'")  # fmt: skip


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """The sample district with the demo draft and two people, served on a free port."""
    from geogrid.clock import fixed_clock
    from web import create_app
    from web.redraw import create_demo_draft
    from web.state import store

    folder = tmp_path_factory.mktemp("studio")
    app = create_app({"STORE": f"sqlite:///{folder / 'studio.db'}", "CLOCK": fixed_clock(NOW),
                      "MANIFEST": str(SAMPLE_MANIFEST), "TILES": "none",
                      "DEMO_DRAFT": DEMO})  # fmt: skip
    with app.app_context():
        accounts = store().accounts
        for name, role in (("wang.wu", "planner"), ("li.si", "commander")):
            accounts.add_user(name, role, None, display_name=name, password=PASSWORD,
                              actor="test")  # fmt: skip
        token = accounts.issue_token("li.si", days=1, actor="test")[0]
        planner_token = accounts.issue_token("wang.wu", days=1, actor="test")[0]
    draft = create_demo_draft(app)
    with served(app) as base:
        yield {"base": base, "draft": draft.id, "token": token, "planner_token": planner_token}


@pytest.fixture
def page(browser):  # noqa: F811 (the module's own page: no token, people sign in)
    with new_page(browser) as opened:
        yield opened


def sign_in(page, base: str, name: str, path: str = "/redraw") -> None:
    page.goto(base + path)
    page.wait_for_url("**/login?**")
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"**{path}*")


def settle(page) -> None:
    page.wait_for_function(SETTLED)


def ready(page) -> None:
    """The studio has loaded its lists (no draft open yet)."""
    page.wait_for_function("() => document.body.dataset.ready === 'true'")


def households(page, key: str) -> int:
    """The households the statistics panel shows for a grid."""
    cell = page.locator(f"#rd-stats tr[data-key='{key}'] td.num").first
    return int(re.match(r"\d+", cell.inner_text()).group())


def real_problems(page) -> list[str]:
    """What went wrong on the page, less Chromium's request for the icon no page declares."""
    return [p for p in page.problems if "favicon.ico" not in p]


def drag(page, points: list[tuple[float, float]], modifier: str | None = None) -> None:
    """Press the mouse on the first point, move through the others, release."""
    if modifier:
        page.keyboard.down(modifier)
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=4)
    page.mouse.up()
    if modifier:
        page.keyboard.up(modifier)


def test_a_planner_paints_proposes_and_a_commander_publishes(browser, studio):  # noqa: F811
    base, draft = studio["base"], studio["draft"]
    with new_page(browser) as planner:
        sign_in(planner, base, "wang.wu")
        ready(planner)
        planner.select_option("#rd-parent", PARENT)
        planner.wait_for_function(f"() => [...document.querySelectorAll('#rd-draft option')]"
                                  f".some(o => o.value === '{draft}')")  # fmt: skip
        planner.select_option("#rd-draft", str(draft))
        settle(planner)
        assert "2027 年度网格调整" in planner.locator("#rd-draft").inner_text()
        grid3, grid4 = f"{PARENT}003", f"{PARENT}004"
        before = (households(planner, grid3), households(planner, grid4))
        assert before[0] > 1000 and before[1] > 1000  # the grown community

        # Paint three of grid 4's units into grid 3 with the brush.
        planner.locator(f"#rd-grids li[data-key='{grid3}']").click()
        points = planner.evaluate(f"() => window.redrawDebug.unitPoints('{grid4}')")
        with planner.expect_response(lambda r: r.url.endswith(f"/drafts/{draft}/edit")) as edit:
            drag(planner, points[:3])
        assert edit.value.status == 200
        moved = edit.value.json()["changed"]
        assert len(moved) >= 3 and set(moved.values()) == {grid3}
        settle(planner)
        after = (households(planner, grid3), households(planner, grid4))
        assert after[0] > before[0] and after[1] < before[1]  # the panel followed the stroke
        assert len(planner.evaluate("window.redrawTimings")) == 1

        # Ctrl+Z takes the stroke back; a shift-drag rectangle selects units at once.
        planner.keyboard.press("Control+z")
        planner.wait_for_function("() => window.redrawDebug.state.history.can_redo")
        settle(planner)
        assert (households(planner, grid3), households(planner, grid4)) == before
        box = planner.evaluate(f"() => window.redrawDebug.unitPoints('{grid4}')")
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        with planner.expect_response(lambda r: r.url.endswith("/edit")) as rectangle:
            drag(planner, [(min(xs) - 2, min(ys) - 2), (max(xs) + 2, max(ys) + 2)], "Shift")
        changed = rectangle.value.json()["changed"]
        assert set(changed.values()) == {grid3} and len(changed) >= len(box)
        settle(planner)

        # An automatic proposal from the current grids puts every grid in band.
        planner.locator("#rd-keep").check()
        with planner.expect_response(lambda r: r.url.endswith("/propose")) as proposed:
            planner.get_by_role("button", name="自动方案").click()
        assert proposed.value.status == 200, proposed.value.text()
        settle(planner)
        summary = proposed.value.json()["metrics"]["summary"]
        assert summary["in_band"] == summary["grids"] >= 8
        expect(planner.locator("#rd-message")).to_contain_text("自动方案")
        expect(planner.locator("#rd-gate")).to_contain_text("可以发布")

        # Submit for approval: the planner sees no approve or publish buttons.
        assert planner.locator("#rd-approve").is_hidden()
        planner.get_by_role("button", name="提交审核").click()
        expect(planner.locator("#rd-status")).to_contain_text("待审核")
        assert planner.locator("#rd-publish").is_hidden()
        assert real_problems(planner) == []

    with new_page(browser) as commander:
        sign_in(commander, base, "li.si", f"/redraw?draft={draft}")
        settle(commander)
        expect(commander.locator("#rd-status")).to_contain_text("待审核")
        commander.get_by_role("button", name="审核通过").click()
        expect(commander.locator("#rd-status")).to_contain_text("已审核")
        with commander.expect_response(lambda r: r.url.endswith("/publish")) as published:
            commander.get_by_role("button", name="发布为新版本").click()
        assert published.value.status == 200, published.value.text()
        generation = published.value.json()["published_generation"]
        expect(commander.locator("#rd-message")).to_contain_text(f"#{generation}")
        expect(commander.locator("#rd-status")).to_contain_text("已发布")
        assert real_problems(commander) == []

    bearer = {"Authorization": f"Bearer {studio['token']}"}
    request = urllib.request.Request(base + "/api/generations", headers=bearer)
    generations = json.load(urllib.request.urlopen(request))["generations"]
    assert [g["id"] for g in generations if g["active"]] == [generation]


def test_a_draft_changed_elsewhere_is_reloaded_with_a_note(browser, studio):  # noqa: F811
    base = studio["base"]
    with new_page(browser) as planner:
        sign_in(planner, base, "wang.wu")
        ready(planner)
        planner.locator("#rd-draft-name").fill("冲突测试")
        planner.get_by_role("button", name="新建", exact=True).click()
        planner.wait_for_function("() => window.redrawDebug.state.draft && "
                                  "window.redrawDebug.state.draft.name === '冲突测试'")  # fmt: skip
        settle(planner)
        draft = planner.evaluate("window.redrawDebug.state.draft.id")
        first, second = planner.evaluate("window.redrawDebug.state.grids.map(g => g.key)")[:2]
        # Another planner renames a grid meanwhile: the page's version 1 is stale now.
        body = {"version": 1, "op": "rename", "grid": first, "name": "改过的名字"}
        answer = urllib.request.urlopen(urllib.request.Request(
            f"{base}/api/redraw/drafts/{draft}/edit", data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {studio['planner_token']}",
                     "Content-Type": "application/json"}))  # fmt: skip
        assert json.load(answer)["version"] == 2
        planner.locator(f"#rd-grids li[data-key='{first}']").click()
        points = planner.evaluate(f"() => window.redrawDebug.unitPoints('{second}')")
        with planner.expect_response(lambda r: r.url.endswith("/edit")) as refused:
            drag(planner, [points[0], (points[0][0] + 5, points[0][1] + 5)])
        assert refused.value.status == 409
        expect(planner.locator("#rd-message")).to_contain_text("已重新载入")
        settle(planner)
        assert planner.evaluate("window.redrawDebug.state.version") == 2
        expect(planner.locator("#rd-grids")).to_contain_text("改过的名字")
        assert [p for p in real_problems(planner) if "409" not in p] == []
