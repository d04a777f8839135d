"""The report workflow: the closed loop, sources and escalation."""

from __future__ import annotations

import re
from itertools import product
from pathlib import Path

import pytest

from geogrid.categories import UnknownCategoryError
from geogrid.errors import ConfigError, GeogridError, InputError
from geogrid.workflow import (
    CLOSED,
    DISPATCHED,
    FEEDBACK,
    IN_PROGRESS,
    OPEN_STATUSES,
    RECEIVED,
    REGISTERED,
    SOURCES,
    STATUS_LABELS,
    STATUSES,
    VERIFIED,
    IllegalTransitionError,
    allowed_next,
    check_source,
    check_status,
    check_transition,
    escalation_target,
)
from tests.geogrid import default_tree

# --------------------------------------------------------------------- statuses

#: The closed loop written out again by hand, so the table in the code is checked.
ALLOWED = {
    (RECEIVED, REGISTERED),
    (RECEIVED, CLOSED),
    (REGISTERED, DISPATCHED),
    (REGISTERED, CLOSED),
    (DISPATCHED, IN_PROGRESS),
    (IN_PROGRESS, FEEDBACK),
    (FEEDBACK, VERIFIED),
    (FEEDBACK, IN_PROGRESS),
    (VERIFIED, CLOSED),
}


def test_statuses_are_the_closed_loop_in_order():
    assert STATUSES == (
        "received",
        "registered",
        "dispatched",
        "in_progress",
        "feedback",
        "verified",
        "closed",
    )
    assert STATUSES[:-1] == OPEN_STATUSES
    assert list(STATUS_LABELS) == list(STATUSES)
    assert STATUS_LABELS[DISPATCHED] == ("分拨", "Dispatched")


@pytest.mark.parametrize("current, target", list(product(STATUSES, STATUSES)))
def test_every_pair_of_statuses_against_the_table(current, target):
    if (current, target) in ALLOWED:
        check_transition(current, target, note="已核实")
        assert target in allowed_next(current)
    else:
        with pytest.raises(IllegalTransitionError) as info:
            check_transition(current, target, note="已核实")
        for status in (current, target):
            zh, en = STATUS_LABELS[status]
            assert f"{zh} {en} ({status})" in str(info.value)
        assert target not in allowed_next(current)


def test_allowed_next_follows_loop_order():
    assert allowed_next(FEEDBACK) == (IN_PROGRESS, VERIFIED)
    assert allowed_next(CLOSED) == ()


def test_refusal_lists_the_allowed_next_statuses():
    with pytest.raises(IllegalTransitionError, match=re.escape("处置 In progress (in_progress)")):
        check_transition(DISPATCHED, DISPATCHED)
    with pytest.raises(IllegalTransitionError, match=r"allowed next: .*结案 Closed.* with a note"):
        check_transition(RECEIVED, VERIFIED)
    with pytest.raises(IllegalTransitionError, match="final"):
        check_transition(CLOSED, IN_PROGRESS)


@pytest.mark.parametrize("current", [RECEIVED, REGISTERED])
@pytest.mark.parametrize("note", [None, "", "   "])
def test_closing_before_dispatch_needs_a_note(current, note):
    with pytest.raises(IllegalTransitionError, match="不予受理") as info:
        check_transition(current, CLOSED, note)
    assert current in str(info.value) and "结案 Closed (closed)" in str(info.value)
    check_transition(current, CLOSED, "重复上报，已并入 #1024")


def test_normal_moves_need_no_note():
    check_transition(VERIFIED, CLOSED)
    check_transition(FEEDBACK, IN_PROGRESS)


def test_unknown_status_names_it_and_lists_the_valid_ones():
    with pytest.raises(InputError, match=r"unknown status 'done'.*received, registered") as info:
        check_transition("done", CLOSED)
    assert not isinstance(info.value, IllegalTransitionError)
    with pytest.raises(InputError, match="did you mean 'dispatched'"):
        check_transition(REGISTERED, "dispached")
    with pytest.raises(InputError, match="'verifed'"):
        allowed_next("verifed")
    assert check_status(VERIFIED) == VERIFIED


def test_a_note_must_be_text():
    with pytest.raises(InputError, match="note must be text"):
        check_transition(RECEIVED, CLOSED, note=42)


# ---------------------------------------------------------------------- sources


def test_sources():
    assert check_source("grid_worker") == "grid_worker"
    assert SOURCES["hotline"] == ("12345热线", "12345 hotline")
    with pytest.raises(InputError, match="unknown source 'residnet'; did you mean 'resident'"):
        check_source("residnet")
    with pytest.raises(InputError, match="valid sources: grid_worker, resident, hotline"):
        check_source("wechat")


# ------------------------------------------------------------------- escalation


def test_escalation_goes_one_level_up_and_stops_at_the_top():
    levels = ["street", "community", "grid", "microgrid", "building"]
    assert escalation_target(levels, "building") == "microgrid"
    assert escalation_target(levels, "community") == "street"
    assert escalation_target(levels, "street") is None
    with pytest.raises(InputError, match="unknown level 'gird'; did you mean 'grid'"):
        escalation_target(levels, "gird")
    assert "小事不出社，大事不出街" in escalation_target.__doc__


def test_errors_belong_to_the_geogrid_tree():
    assert issubclass(IllegalTransitionError, GeogridError)
    assert issubclass(ConfigError, GeogridError)
    assert issubclass(UnknownCategoryError, InputError)
    assert Path(default_tree().source).name == "categories.toml"
