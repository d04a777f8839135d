"""The residents' page in a real browser on a phone-sized screen (headless Chromium).

A visitor who has not signed in reports a matter: picks the place on the map (or
takes the phone's position), chooses a category, describes it, attaches a photo
and sends it, and reads the ticket number. The staff take the report round the
loop in the store; the visitor looks the ticket up and rates the handling, and
the store holds the rating.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from PIL import Image

from geogrid.reports import TICKET_PATTERN
from tests.web.conftest import served, tiny_app
from tests.web.test_browser import PAGE_NOW, Problems, browser  # noqa: F401 (a fixture)
from tests.web.test_resident import CLOSING, LIMITS, WORKER, close

PHONE = {"width": 390, "height": 844}
#: The page has set itself up and no request is on its way.
SETTLED = "() => document.body.dataset.ready === 'true' && document.body.dataset.busy === 'false'"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The tiny district served on a free port, with a grid worker to dispatch to."""
    from web.state import store

    app = tiny_app(tmp_path_factory.mktemp("resident"), **LIMITS)
    with app.app_context():
        store().accounts.add_user(WORKER, "grid_worker", None, actor="test")
    with served(app) as base:
        yield {"base": base, "app": app}


@contextmanager
def phone(browser, **options):  # noqa: F811 (the fixture, passed on)
    """A page on a phone-sized touch screen, in Chinese, China time."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  **options)  # fmt: skip
    page = context.new_page()
    page.clock.install(time=PAGE_NOW)
    page.set_default_timeout(15_000)
    page.problems = Problems(page)
    try:
        yield page
    finally:
        context.close()


def real_problems(page) -> list[str]:
    return [p for p in page.problems if "favicon.ico" not in p]


def stored(site, ticket: str):
    from web.state import store

    with site["app"].app_context():
        return store().report_by_ticket(ticket)


def test_a_resident_reports_with_a_photo_and_rates_the_closed_matter(browser, site, tmp_path):  # noqa: F811
    photo = tmp_path / "堆物.png"
    Image.new("RGB", (64, 48), (30, 120, 200)).save(photo)
    with phone(browser, permissions=["clipboard-read", "clipboard-write"]) as page:
        page.goto(site["base"] + "/r")
        page.wait_for_function(SETTLED)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.locator("#rs-map").click(position={"x": 120, "y": 150})
        assert "已选位置" in page.locator("#rs-place").inner_text()
        page.select_option("#rs-category", "city.rubbish")
        page.fill("#rs-description", "楼道里堆满纸箱，挡住了消防通道")
        page.set_input_files("#rs-photos", str(photo))
        assert page.locator("#rs-previews img").count() == 1
        page.fill("#rs-phone", "13800001234")
        page.click("#rs-submit")
        page.wait_for_function("() => document.body.dataset.photos === 'done'")
        ticket = page.locator("#rs-ticket").inner_text().strip()
        assert TICKET_PATTERN.match(ticket)
        assert "1 张照片已上传" in page.locator("#rs-upload").inner_text()
        assert page.locator("#rs-follow").get_attribute("href") == f"/r?ticket={ticket}"
        page.click("#rs-copy")
        page.wait_for_function("() => document.getElementById('rs-copy').textContent === '已复制'")
        assert page.evaluate("navigator.clipboard.readText()") == ticket
        assert real_problems(page) == []

    report = stored(site, ticket)
    assert (report.source, report.category, report.status) == ("resident", "city.rubbish",
                                                               "received")  # fmt: skip
    assert report.description == "楼道里堆满纸箱，挡住了消防通道"
    assert report.contact.phone == "13800001234"
    from web.state import store

    with site["app"].app_context():
        assert [m.stage for m in store().media.of_report(report.id)] == ["report"]
    close(site["app"], ticket)

    with phone(browser) as page:
        page.goto(f"{site['base']}/r?ticket={ticket}")
        page.wait_for_selector("#rs-rate")
        assert page.locator("#rs-status").inner_text() == "结案"
        timeline = page.locator("#rs-timeline").inner_text()
        assert CLOSING in timeline and WORKER not in timeline and "受理" in timeline
        page.locator("label[for=rs-score-4]").click()
        page.fill("#rs-rate-note", "处理很及时")
        page.click("#rs-rate-submit")
        page.wait_for_selector("#rs-rating")
        assert "★★★★☆" in page.locator("#rs-rating").inner_text()
        assert page.locator("#rs-rate").count() == 0  # rated once: no second form
        assert real_problems(page) == []
    rated = stored(site, ticket)
    assert (rated.rating, rated.rating_note) == (4, "处理很及时")


def test_a_resident_reports_from_the_phones_position(browser, site):  # noqa: F811
    here = {"longitude": 120.025, "latitude": 28.015}
    with phone(browser, geolocation=here, permissions=["geolocation"]) as page:
        page.goto(site["base"] + "/r?lang=en")
        page.wait_for_function(SETTLED)
        page.click("#rs-locate")
        page.wait_for_function("() => /28\\.01500/.test(document.getElementById('rs-place')"
                               ".textContent)")  # fmt: skip
        page.select_option("#rs-category", "city.rubbish")
        page.fill("#rs-description", "Rubbish by the gate")
        page.click("#rs-submit")
        page.wait_for_function("() => document.body.dataset.photos === 'done'")
        ticket = page.locator("#rs-ticket").inner_text().strip()
        assert page.locator("#rs-follow").get_attribute("href") == f"/r?ticket={ticket}&lang=en"
        assert real_problems(page) == []
    report = stored(site, ticket)
    assert (round(report.lon, 6), round(report.lat, 6)) == (120.025, 28.015)
    assert report.codes["grid"] is not None


def test_an_unknown_ticket_says_so(browser, site):  # noqa: F811
    with phone(browser) as page:
        page.goto(site["base"] + "/r?ticket=7K3M-Q9XD-2PHT")
        page.wait_for_function(SETTLED)
        expect_text = page.locator("#rs-lookup-message")
        expect_text.wait_for()
        page.wait_for_function("() => document.getElementById('rs-lookup-message').textContent")
        assert expect_text.inner_text() == "没有这个编号的事件"
        assert [p for p in real_problems(page) if "404" not in p] == []
