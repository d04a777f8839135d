"""The store's people rules on both backends: who acts, in what scope, and the audit trail."""

from __future__ import annotations

import pytest

from geogrid import Hierarchy
from geogrid.access import Contact, Principal
from geogrid.reports import NewReport, ReportQuery
from geogrid.storage import NotFoundError, PermissionDeniedError, StaleStatusError, open_store
from geogrid.storage.audit import AuditQuery
from geogrid.workflow import IllegalTransitionError
from tests.conftest import SOUTH, STEP, WEST
from tests.storage.conftest import (  # noqa: F401 (fixtures, used by name)
    postgis_template,
    postgis_url,
    store_url,
)

COMMANDER = Principal("li.si", "commander", via="token", client="10.0.0.7", request_id="r-1")
WORKER_101 = Principal("zhang.san", "grid_worker", scope=("101",), via="token")
VIEWER = Principal("wang.wu", "viewer", via="session")


@pytest.fixture
def district(store_url, tiny_manifest):  # noqa: F811
    store = open_store(store_url)
    store.import_generation(Hierarchy.from_manifest(tiny_manifest), "tiny", activate=True)
    in_101 = NewReport("dispute.neighbour", WEST + STEP / 2, SOUTH + STEP / 2,
                       contact=Contact(name="张三", phone="13800001234"))  # fmt: skip
    in_204 = NewReport("fire.lane", WEST + 3.5 * STEP, SOUTH + 1.5 * STEP)
    ids = [r.id for r in store.add_reports([in_101, in_204], actor=COMMANDER)]
    yield store, ids
    store.close()


def _events(store, **filters):
    return store.audit.events(AuditQuery(**filters))


def test_intake_names_the_principal_and_keeps_contacts_apart(district):
    store, (first, second) = district
    report = store.get_report(first)
    assert report.history[0].actor == "li.si"
    assert report.contact == Contact(name="张三", phone="13800001234")
    assert "13800001234" not in str(report.to_dict())
    assert store.get_report(second).contact is None
    (event,) = _events(store, action="report.create")
    assert (event.principal, event.role, event.via) == ("li.si", "commander", "token")
    assert (event.client, event.request_id) == ("10.0.0.7", "r-1")
    assert event.after == {"ids": [first, second]}


def test_a_transition_is_recorded_with_its_principal_and_before_and_after(district):
    store, (first, _) = district
    store.transition(first, "registered", actor=COMMANDER, note="已登记", expected="received")
    (event,) = _events(store, action="report.register")
    assert (event.object_type, event.object_id) == ("report", str(first))
    assert event.before == {"status": "received"}
    assert event.after == {"status": "registered", "note": "已登记"}
    assert store.get_report(first).history[-1].actor == "li.si"


@pytest.mark.parametrize(("who", "expected", "error"), [
    (VIEWER, None, PermissionDeniedError),          # a viewer may not register
    (WORKER_101, None, PermissionDeniedError),      # nor may a grid worker
    (COMMANDER, "registered", StaleStatusError),    # the report moved on meanwhile
])  # fmt: skip
def test_a_refused_transition_changes_nothing_and_writes_no_event(district, who, expected, error):
    store, (first, _) = district
    before = _events(store)
    with pytest.raises(error):
        store.transition(first, "registered", actor=who, expected=expected)
    assert store.get_report(first).status == "received"
    assert _events(store) == before


def test_an_illegal_step_writes_no_event_either(district):
    store, (first, _) = district
    before = _events(store)
    with pytest.raises(IllegalTransitionError):
        store.transition(first, "verified", actor=COMMANDER)
    assert _events(store) == before


def test_a_report_out_of_scope_does_not_exist_for_the_principal(district):
    store, (first, second) = district
    store.transition(first, "registered", actor=COMMANDER)
    store.transition(second, "registered", actor=COMMANDER)
    store.transition(first, "dispatched", actor=COMMANDER)
    store.transition(second, "dispatched", actor=COMMANDER)
    assert store.transition(first, "in_progress", actor=WORKER_101).status == "in_progress"
    with pytest.raises(NotFoundError, match=f"report {second} does not exist"):
        store.transition(second, "in_progress", actor=WORKER_101)


def test_scoped_queries_return_only_the_scope(district):
    store, (first, _) = district
    page = store.find_reports(ReportQuery(scope=("101",)))
    assert [r.id for r in page.items] == [first] and page.total == 1
    assert len(store.report_points(scope=("1",))) == 1
    assert len(store.report_points(scope=("nowhere",))) == 0
    assert len(store.report_points()) == 2


def test_escalation_and_activation_are_audited(district, tiny_manifest):
    store, _ = district
    generation = store.import_generation(Hierarchy.from_manifest(tiny_manifest), "again",
                                         actor=COMMANDER)  # fmt: skip
    store.activate(generation.id, actor=COMMANDER)
    actions = [e.action for e in _events(store, principal="li.si")]
    assert actions[:2] == ["generation.activate", "generation.import"]
    (activation,) = _events(store, action="generation.activate", principal="li.si")
    assert activation.after["reassigned"] == 2


def test_the_audit_trail_cannot_be_edited(district):
    store, _ = district
    for statement in ("UPDATE audit_events SET principal = 'nobody'", "DELETE FROM audit_events"):
        with pytest.raises(Exception, match="append-only"), store.db.transaction() as tx:
            store.db.execute(tx, statement)
    assert {e.principal for e in _events(store)} >= {"li.si"}
