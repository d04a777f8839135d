"""Notices posted to a real webhook (an HTTP server on this machine), with retries."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from geogrid import Hierarchy
from geogrid.notify import Notifier, deliver_pending
from geogrid.reports import NewReport
from geogrid.storage import open_store
from tests.conftest import SOUTH, STEP, WEST
from tests.storage.conftest import (  # noqa: F401 (fixtures, used by name)
    postgis_template,
    postgis_url,
    store_url,
)
from tests.storage.test_loop import COMMANDER, START, Clock


class Webhook(ThreadingHTTPServer):
    """Answers 503 to the first ``failures`` posts, then 200; keeps what it was sent."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failures, self.received = failures, []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append((self.headers["X-Geogrid-Notice"], body))
        failing = len(self.server.received) <= self.server.failures
        self.send_response(503 if failing else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    def serve(failures: int = 0) -> Webhook:
        server = Webhook(failures)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    servers: list[Webhook] = []
    yield serve
    for server in servers:
        server.shutdown()


@pytest.fixture
def dispatched(store_url, tiny_manifest):  # noqa: F811
    clock = Clock(START)
    store = open_store(store_url, clock=clock)
    store.import_generation(Hierarchy.from_manifest(tiny_manifest), "tiny", activate=True)
    store.accounts.add_user("gw.101", "grid_worker", ["101"], actor="test")
    (intake,) = store.add_reports([NewReport("dispute", WEST + STEP / 2, SOUTH + STEP / 2)],
                                  actor=COMMANDER)  # fmt: skip
    store.transition(intake.id, "registered", actor=COMMANDER)
    store.transition(intake.id, "dispatched", actor=COMMANDER, assignee="gw.101",
                     deadline=START + timedelta(hours=5))  # fmt: skip
    yield store, clock, intake.id
    store.close()


def test_a_notice_is_posted_once_and_retried_until_the_receiver_answers(dispatched, webhook):
    store, clock, report_id = dispatched
    hook = webhook(failures=2)
    assert deliver_pending(store, hook.url, retries=5).failed == 1
    assert deliver_pending(store, hook.url, retries=5).sent == 0  # not due again yet
    clock.advance(seconds=30)
    assert deliver_pending(store, hook.url, retries=5).failed == 1
    clock.advance(seconds=60)
    assert deliver_pending(store, hook.url, retries=5).sent == 1
    clock.advance(hours=1)
    assert deliver_pending(store, hook.url, retries=5).sent == 0  # delivered: never again
    keys = {key for key, _ in hook.received}
    assert keys == {f"dispatched:{report_id}:{store.db.encode_time(START)}"}
    (_, body) = hook.received[-1]
    assert (body["kind"], body["recipient"], body["report"]["id"]) == (
        "dispatched",
        "gw.101",
        report_id,
    )


def test_a_receiver_that_never_answers_is_given_up_after_the_retries(dispatched, webhook):
    store, clock, _ = dispatched
    hook = webhook(failures=100)
    outcomes = []
    for _ in range(4):
        outcomes.append(deliver_pending(store, hook.url, retries=3))
        clock.advance(hours=1)
    assert [o.failed for o in outcomes] == [1, 1, 0, 0]
    assert [o.given_up for o in outcomes] == [0, 0, 1, 0]
    assert len(hook.received) == 3


def test_the_notifier_sweeps_for_warnings_and_a_dead_address_is_no_crash(dispatched, webhook):
    store, clock, _ = dispatched
    hook = webhook()
    clock.advance(hours=4, minutes=30)  # past 80 % of five hours
    Notifier(store, hook.url).run_once()
    kinds = sorted(body["kind"] for _, body in hook.received)
    assert kinds == ["dispatched", "nearly_overdue"]
    dead = deliver_pending(store, "http://127.0.0.1:9/nothing", retries=2,
                           now=datetime(2026, 11, 3, tzinfo=UTC))  # fmt: skip
    assert dead.sent == 0  # all delivered already; nothing to send
