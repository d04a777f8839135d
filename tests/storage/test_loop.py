"""The closed loop on both backends: dispatch, handling by the assignee, offline replays,
work queues, tickets, ratings, notices and warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geogrid import Hierarchy
from geogrid.access import Principal
from geogrid.errors import InputError
from geogrid.reports import TICKET_PATTERN, NewReport
from geogrid.storage import NotFoundError, PermissionDeniedError, StaleStatusError, open_store
from geogrid.storage.loop import LoopConflictError, QueueQuery
from tests.conftest import SOUTH, STEP, WEST
from tests.storage.conftest import (  # noqa: F401 (fixtures, used by name)
    postgis_template,
    postgis_url,
    store_url,
)

START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in China
COMMANDER = Principal("li.si", "commander", via="token")
CENTRE_1 = Principal("zhao.liu", "commander", scope=("1",), via="token")
WORKER_101 = Principal("gw.101", "grid_worker", scope=("101",), via="token")
WORKER_102 = Principal("gw.102", "grid_worker", scope=("102",), via="token")
FIRE = Principal("fire.dept", "department", via="token")


class Clock:
    """A clock the test moves on."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta) -> datetime:
        self.at += timedelta(**delta)
        return self.at


@pytest.fixture
def loop(store_url, tiny_manifest):  # noqa: F811
    clock = Clock(START)
    store = open_store(store_url, clock=clock)
    store.import_generation(Hierarchy.from_manifest(tiny_manifest), "tiny", activate=True)
    for who in (WORKER_101, WORKER_102, FIRE):
        store.accounts.add_user(who.name, who.role, who.scope, actor="test")
    store.accounts.add_user("gone", "grid_worker", None, actor="test")
    store.accounts.disable_user("gone", actor="test")
    store.accounts.add_user("viewer", "viewer", None, actor="test")
    in_101 = NewReport("dispute.neighbour", WEST + STEP / 2, SOUTH + STEP / 2, source="resident")
    in_102 = NewReport("fire.lane", WEST + STEP / 2, SOUTH + 1.5 * STEP)
    ids = [r.id for r in store.add_reports([in_101, in_102, in_101], actor=COMMANDER)]
    yield store, clock, ids
    store.close()


def _registered(store, report_id):
    return store.transition(report_id, "registered", actor=COMMANDER)


def test_intake_gives_a_ticket_and_a_warning_time_on_the_way_to_the_deadline(loop):
    store, _, (first, _, third) = loop
    report = store.get_report(first)
    assert TICKET_PATTERN.match(report.ticket)
    assert report.ticket != store.get_report(third).ticket
    share = (report.warn_at - report.received_at) / (report.deadline - report.received_at)
    assert share == pytest.approx(0.8, abs=1e-6)
    assert store.report_by_ticket(report.ticket.lower().replace("-", " ")).id == first


def test_dispatch_names_an_assignee_in_scope_with_a_deadline_after_now(loop):
    store, clock, (first, *_) = loop
    _registered(store, first)
    refusals = (("nobody", "no account"), ("gone", "not an active"),
                ("viewer", "not an active"), ("gw.102", "outside gw.102"))  # fmt: skip
    for assignee, problem in refusals:
        with pytest.raises(InputError, match=rf"assignee: .*{problem}"):
            store.transition(first, "dispatched", actor=COMMANDER, assignee=assignee)
    with pytest.raises(InputError, match=r"deadline: .* is in the past"):
        store.transition(first, "dispatched", actor=COMMANDER, assignee="gw.101",
                         deadline=clock.at - timedelta(minutes=1))  # fmt: skip
    assert store.get_report(first).status == "registered"  # nothing half-written
    deadline = clock.at + timedelta(days=2)
    report = store.transition(first, "dispatched", actor=COMMANDER, assignee="gw.101",
                              deadline=deadline)  # fmt: skip
    assert (report.status, report.assignee, report.assigned_at) == ("dispatched", "gw.101", START)
    assert report.deadline == deadline
    assert report.warn_at == START + timedelta(days=2) * 0.8
    assert report.history[-1].data == {"assignee": "gw.101", "deadline": deadline.isoformat()}
    (notice,) = store.notifications(WORKER_101)
    assert (notice["kind"], notice["report_id"]) == ("dispatched", first)
    assert store.notifications(WORKER_102) == []


def test_only_the_assignee_handles_and_a_redispatch_hands_it_on(loop):
    store, clock, (first, *_) = loop
    _registered(store, first)
    store.transition(first, "dispatched", actor=COMMANDER, assignee="fire.dept")
    with pytest.raises(PermissionDeniedError, match=r"dispatched to fire\.dept, not to gw\.101"):
        store.transition(first, "in_progress", actor=WORKER_101)
    clock.advance(minutes=5)
    again = store.transition(first, "dispatched", actor=COMMANDER, assignee="gw.101")
    assert (again.assignee, again.history[-1].action) == ("gw.101", "redispatched")
    with pytest.raises(InputError, match="assignee: dispatching again"):
        store.transition(first, "dispatched", actor=COMMANDER)
    assert store.transition(first, "in_progress", actor=WORKER_101).status == "in_progress"


def test_the_loop_keeps_returns_and_the_closing_time(loop):
    store, clock, (first, *_) = loop
    _registered(store, first)
    store.transition(first, "dispatched", actor=COMMANDER, assignee="gw.101")
    store.transition(first, "in_progress", actor=WORKER_101)
    store.transition(first, "feedback", actor=WORKER_101, note="已调解")
    store.transition(first, "in_progress", actor=COMMANDER, note="双方仍有争议，再次调解")
    kinds = [n["kind"] for n in store.notifications(WORKER_101)]
    assert kinds == ["returned", "dispatched"]
    store.transition(first, "feedback", actor=WORKER_101, note="已签调解协议")
    store.transition(first, "verified", actor=COMMANDER)
    closed_at = clock.advance(hours=1)
    report = store.transition(first, "closed", actor=COMMANDER)
    assert (report.returns, report.closed_at, report.warning(closed_at)) == (1, closed_at, None)


def test_an_offline_action_replayed_is_done_once(loop):
    store, _, (first, second, _) = loop
    once = store.transition(first, "registered", actor=COMMANDER, client_id="phone-1")
    again = store.transition(first, "registered", actor=COMMANDER, client_id="phone-1")
    assert once.history == again.history and len(again.history) == 2
    with pytest.raises(LoopConflictError, match="client_id: 'phone-1' was used for another"):
        store.transition(second, "registered", actor=COMMANDER, client_id="phone-1")
    # A replay after the report moved on under another id is refused, not done twice.
    store.transition(first, "closed", actor=COMMANDER, note="重复上报", client_id="phone-2")
    with pytest.raises(StaleStatusError, match="is closed now, not registered"):
        store.transition(first, "dispatched", actor=COMMANDER, assignee="gw.101",
                         expected="registered", client_id="phone-3")  # fmt: skip
    with pytest.raises(InputError, match="client_id: must be text"):
        store.transition(second, "registered", actor=COMMANDER, client_id="x" * 101)


def test_work_queues_by_role_overdue_and_nearly_overdue_first(loop):
    store, clock, (first, second, third) = loop
    _registered(store, second)
    store.transition(second, "dispatched", actor=COMMANDER, assignee="gw.102",
                     deadline=START + timedelta(hours=1))  # fmt: skip
    _registered(store, third)
    store.transition(third, "dispatched", actor=COMMANDER, assignee="gw.101",
                     deadline=START + timedelta(days=3))  # fmt: skip
    now = clock.advance(hours=2)  # second is overdue; first (received) is not yet
    queue = store.queue(COMMANDER, QueueQuery(now=now))
    assert [r.id for r in queue.items] == [first]  # the centre's: to register
    everything = store.queue(COMMANDER, QueueQuery(mine=False, now=now))
    assert next(r.id for r in everything.items) == second
    assert next(r.warning(now) for r in everything.items) == "overdue"
    assert [r.id for r in store.queue(WORKER_101, QueueQuery(now=now)).items] == [third]
    assert [r.id for r in store.queue(WORKER_102, QueueQuery(now=now)).items] == [second]
    overdue = store.queue(COMMANDER, QueueQuery(mine=False, warning="overdue", now=now))
    assert [r.id for r in overdue.items] == [second]
    nearly_at = START + timedelta(days=3) * 0.8 + timedelta(minutes=1)
    nearly = store.queue(WORKER_101, QueueQuery(warning="nearly", now=nearly_at))
    assert [r.id for r in nearly.items] == [third]
    scoped = store.queue(CENTRE_1, QueueQuery(mine=False, grid="101", now=now))
    assert {r.id for r in scoped.items} == {first, third}
    assert store.queue(COMMANDER, QueueQuery(source=("resident",), now=now)).total == 1
    with pytest.raises(InputError, match="warning: 'late' is not one of overdue, nearly"):
        store.queue(COMMANDER, QueueQuery(warning="late"))


def test_a_resident_rates_a_closed_report_once(loop):
    store, _, (first, *_) = loop
    ticket = store.get_report(first).ticket
    with pytest.raises(StaleStatusError, match="can be rated once it is closed"):
        store.rate(ticket, 5, actor="resident")
    store.transition(first, "closed", actor=COMMANDER, note="非本辖区事项")
    with pytest.raises(InputError, match="score: must be a whole number"):
        store.rate(ticket, 0, actor="resident")
    rated = store.rate(ticket, 4, "处理及时", actor="resident")
    assert (rated.rating, rated.rating_note, rated.history[-1].action) == (4, "处理及时", "rated")
    with pytest.raises(LoopConflictError, match="rated already"):
        store.rate(ticket, 5, actor="resident")
    with pytest.raises(NotFoundError, match="ticket: no report has number"):
        store.rate("2222-2222-2222", 5, actor="resident")
    with pytest.raises(InputError, match="ticket: '12' is not a ticket number"):
        store.report_by_ticket("12")


def test_warnings_are_noticed_once_and_escalations_counted(loop):
    store, clock, (_first, second, _) = loop
    _registered(store, second)
    store.transition(second, "dispatched", actor=COMMANDER, assignee="gw.102",
                     deadline=START + timedelta(hours=10))  # fmt: skip
    clock.advance(hours=9)
    assert store.sweep_warnings() >= 1
    store.sweep_warnings()
    kinds = [n["kind"] for n in store.notifications(WORKER_102)]
    assert kinds == ["nearly_overdue", "dispatched"]
    clock.advance(hours=2)
    store.sweep_warnings()
    assert next(n["kind"] for n in store.notifications(WORKER_102)) == "overdue"
    escalated = {r.id: r for r in store.escalate_overdue(actor=COMMANDER)}
    assert escalated[second].escalations == 1
    assert escalated[second].warn_at > clock.at  # its new deadline warns anew
    centre = [n["kind"] for n in store.notifications(COMMANDER)]
    assert "escalated" in centre
    assert store.mark_read(WORKER_102, [n["id"] for n in store.notifications(WORKER_102)]) == 3
    assert store.notifications(WORKER_102, unread_only=True) == []
    assert store.mark_read(WORKER_101, [1, 2, 3]) == 0  # not theirs


def test_assignees_are_the_grids_workers_first_then_departments(loop):
    store, _, (first, *_) = loop
    names = [a["name"] for a in store.assignees(first, actor=COMMANDER)]
    assert names == ["gw.101", "fire.dept"]
    with pytest.raises(NotFoundError):
        store.assignees(first, actor=Principal("c2", "commander", scope=("2",)))


def test_the_overdue_come_before_the_nearly_overdue_page_by_page(loop):
    store, _, (first, second, third) = loop
    deadlines = {first: 240, second: 1, third: 48}  # hours after START
    for report_id, hours in deadlines.items():
        _registered(store, report_id)
        store.transition(report_id, "dispatched", actor=COMMANDER,
                         assignee="gw.102" if report_id == second else "gw.101",
                         deadline=START + timedelta(hours=hours))  # fmt: skip
    soon = START + timedelta(hours=1, minutes=1)  # second overdue; the others warn later
    ordered = [r.id for r in store.queue(COMMANDER, QueueQuery(mine=False, now=soon)).items]
    assert ordered == [second, third, first]
    # Day 9: second and third overdue (second the longer), first nearly overdue since day 8,
    # though its warning time is earlier than third's deadline: the overdue come first.
    later = START + timedelta(days=9)
    pages = [store.queue(COMMANDER, QueueQuery(mine=False, now=later, limit=1, offset=i))
             for i in range(3)]  # fmt: skip
    assert [p.items[0].id for p in pages] == [second, third, first]
    assert [p.items[0].warning(later) for p in pages] == ["overdue", "overdue", "nearly"]
    assert {p.total for p in pages} == {3}


def test_an_overdue_report_keeps_its_deadline_and_a_replay_out_of_scope_is_404(loop):
    store, clock, (first, *_) = loop
    _registered(store, first)
    store.transition(first, "dispatched", actor=COMMANDER, assignee="gw.101",
                     deadline=START + timedelta(hours=1))  # fmt: skip
    clock.advance(hours=2)
    with pytest.raises(InputError, match=r"deadline: report \d+ is overdue since"):
        store.transition(first, "dispatched", actor=COMMANDER, assignee="fire.dept",
                         deadline=clock.at + timedelta(days=1))  # fmt: skip
    store.transition(first, "dispatched", actor=COMMANDER, assignee="fire.dept")  # no new one
    store.transition(first, "in_progress", actor=FIRE, client_id="fire-1")
    with pytest.raises(NotFoundError):
        store.transition(first, "in_progress", actor=WORKER_102, client_id="fire-1")
