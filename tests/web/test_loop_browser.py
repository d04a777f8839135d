"""One report round the whole closed loop, in real browsers, as the people who work it.

A grid worker reports a matter on the phone page while offline, with a photo; it
is stored once when the network returns. The command centre registers it and
dispatches it back to that worker in the work pages; the worker starts it and
reports back with a photo on the phone; the centre verifies and closes it; the
resident, with the ticket number the report got, rates the handling on the
residents' page. The assessment statistics, on their page and from
``geogrid stats``, count it: received, closed, on time, rated.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from playwright.sync_api import expect

from geogrid.cli import main
from tests.web.conftest import served, tiny_app
from tests.web.test_browser import (  # noqa: F401 (fixtures, used by name)
    PAGE_NOW,
    browser,
    new_page,
)
from tests.web.test_phone_browser import READY, SETTLED, outbox, phone, photo
from tests.web.test_phone_browser import sign_in as sign_in_on_phone
from tests.web.test_work_browser import open_report, step
from tests.web.test_work_browser import sign_in as sign_in_at_work

PASSWORD = "correct horse battery"
WORKER, COMMANDER = "zhang.san", "li.si"


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    """The tiny district, a commander and the grid worker of grid 101, served."""
    from web.state import store

    folder = tmp_path_factory.mktemp("loop")
    app = tiny_app(folder, MEDIA_FOLDER=str(folder / "media"))
    with app.app_context():
        accounts = store().accounts
        accounts.add_user(WORKER, "grid_worker", ["101"], display_name="张三",
                          password=PASSWORD, actor="test")  # fmt: skip
        accounts.add_user(COMMANDER, "commander", None, display_name="李四",
                          password=PASSWORD, actor="test")  # fmt: skip
        spot = store().hierarchy().grids("grid").set_index("code").loc["101", "geometry"]
        spot = spot.representative_point()
    with served(app) as base:
        yield {"app": app, "base": base, "lon": spot.x, "lat": spot.y,
               "store": app.config["STORE"]}  # fmt: skip


def stored(app, report_id: int):
    from web.state import store

    with app.app_context():
        return store().get_report(report_id)


def test_a_report_goes_round_the_whole_loop(browser, district, capsys):  # noqa: F811
    app, base = district["app"], district["base"]
    with phone(browser, district) as worker:
        # 1. Reported on the phone, offline; stored once when the network returns.
        sign_in_on_phone(worker, base)
        worker.context.set_offline(True)
        worker.locator("nav button[data-show='report']").tap()
        worker.wait_for_function("() => !document.getElementById('ph-position')"
                                 ".textContent.includes('…')")  # fmt: skip
        worker.select_option("#ph-category", "fire.lane")
        worker.fill("#ph-description", "消防通道被电动车堵住")
        worker.set_input_files("#ph-report-photos", photo())
        worker.wait_for_function("() => document.body.dataset.photos === '1'")
        worker.locator("#ph-report-send").tap()
        worker.wait_for_function("() => document.body.dataset.pending === '2'")  # with its photo
        (sent,) = [i for i in outbox(worker) if i["kind"] == "report"]
        worker.context.set_offline(False)
        worker.wait_for_function(SETTLED)
        from web.state import store

        with app.app_context():
            (found,) = store().find_reports().items
        assert found.external_id == sent["id"] and found.status == "received"
        report_id, ticket = found.id, found.ticket

        # 2. Registered and dispatched to the worker by the command centre.
        with new_page(browser) as centre:
            sign_in_at_work(centre, base, COMMANDER)
            expect(centre.locator(f"#wk-queue tr[data-id='{report_id}']")).to_have_count(1)
            open_report(centre, base, report_id)
            expect(centre.locator("#wk-photos img")).to_have_count(1)
            step(centre, "register", "登记")
            centre.select_option("#wk-assignee-dispatch", WORKER)
            step(centre, "dispatch", "分拨")

            # 3. Handled on the phone, reported back with a photo.
            worker.reload()
            worker.wait_for_function(READY)
            task = worker.locator(f"#ph-task-list li[data-id='{report_id}']")
            task.tap()
            worker.locator("#ph-start").tap()
            worker.wait_for_function("() => document.getElementById('ph-task').dataset.status"
                                     " === 'in_progress'")  # fmt: skip
            worker.fill("#ph-feedback-note", "已挪走电动车，通道畅通")
            worker.set_input_files("#ph-feedback-photos", photo(colour=(20, 120, 60)))
            worker.wait_for_function("() => document.body.dataset.photos === '1'")
            worker.locator("#ph-feedback-form button[type='submit']").tap()
            worker.wait_for_function("() => document.getElementById('ph-task').dataset.status"
                                     " === 'feedback'")  # fmt: skip
            worker.wait_for_function(SETTLED)
            assert stored(app, report_id).status == "feedback"

            # 4. Verified and closed.
            open_report(centre, base, report_id)
            expect(centre.locator("#wk-photos img")).to_have_count(2)
            step(centre, "verify", "核查")
            step(centre, "close", "结案")

            # 5. Rated by the resident, with the ticket number.
            with new_page(browser) as resident:
                resident.goto(f"{base}/r?ticket={ticket}")
                expect(resident.locator("#rs-status")).to_have_text("结案")
                resident.locator("label[for=rs-score-5]").click()
                resident.fill("#rs-rate-note", "很快就处理了")
                resident.click("#rs-rate-submit")
                expect(resident.locator("#rs-rating")).to_contain_text("★★★★★")
            report = stored(app, report_id)
            assert (report.status, report.rating, report.assignee) == ("closed", 5, WORKER)
            steps = [h.to_status for h in report.history if h.action == "transition"]
            assert steps == ["registered", "dispatched", "in_progress", "feedback", "verified",
                             "closed"]  # fmt: skip

            # 6. The statistics count it, on their page and from the command line.
            centre.goto(f"{base}/stats?level=grid&since=2026-12-01&until=2026-12-06")
            centre.wait_for_function("() => document.body.dataset.ready === 'true'")
            row = centre.locator("#st-table tr[data-code='101']")
            expect(row.locator("[data-column='received']")).to_have_text("1")
            expect(row.locator("[data-column='closed']")).to_have_text("1")
            expect(row.locator("[data-column='satisfaction']")).to_contain_text("5")
    capsys.readouterr()
    assert main(["stats", "--level", "grid", "--since", "2026-12-01", "--until", "2026-12-06",
                 "--format", "json", "--store", district["store"]]) == 0  # fmt: skip
    rows = {r["code"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert (rows["101"]["received"], rows["101"]["closed"], rows["101"]["on_time_rate"]) == (
        1,
        1,
        1.0,
    )
    assert main(["stats", "--level", "grid", "--since", "2026-12-01", "--until", "2026-12-06",
                 "--store", district["store"]]) == 0  # fmt: skip
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out.lstrip("\ufeff"))))
    assert next(r for r in table if r["code"] == "101")["closure_rate"] in ("1.0", "1", "1.00")
    assert PAGE_NOW.date().isoformat() == "2026-12-06"  # the period above is the test's
