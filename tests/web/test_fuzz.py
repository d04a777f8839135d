"""Fuzz every API from its own OpenAPI document: whatever comes in, never a 500.

schemathesis generates requests for every operation of /api (with /api/analysis
and /api/patrol), Open311 (/open311/v2/openapi.json) and OGC API - Features
(/ogc/api), and checks each response. The store holds the tiny district and a
few reports, so reads find data and writes meet real rules.

Cases are also bent towards what once broke the server (security review, F13):
every ``date`` and ``date-time`` is drawn from years 1 to 9999, with offsets up
to ±14:00; a JSON string becomes half a surrogate pair or holds a NUL; a query
parameter or form field holds a NUL; a JSON body is nested 50,000 deep or holds
an integer of 400 digits; an id is past 2⁶³. Runs are derandomized: every run
sends the same cases, so a failure here reproduces.
"""

from __future__ import annotations

import json
from datetime import date, time
from functools import partial

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi import unregister_string_format

from tests.web.conftest import auth_header, sample_reports, tiny_app

#: Years where time-zone arithmetic overflows, the edges of the window geogrid takes, and any.
YEARS = st.one_of(st.sampled_from([1, 2, 1899, 1900, 2100, 2101, 9998, 9999]),
                  st.integers(1, 9999))  # fmt: skip
DATES = st.builds(date, YEARS, st.integers(1, 12), st.integers(1, 28)).map(date.isoformat)
CLOCK = st.builds(time, st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
                  st.sampled_from([0, 999_999])).map(time.isoformat)  # fmt: skip
DATE_TIMES = st.builds("{}T{}{}".format, DATES, CLOCK,
                       st.sampled_from(["Z", "+08:00", "+14:00", "-14:00", ""]))  # fmt: skip
#: Times whose conversion to UTC, or the next day, leaves the calendar: tried first.
EDGES = ["0001-01-01", "9999-12-31", "0001-01-01T00:00:00+14:00",
         "9999-12-31T23:59:59.999999-14:00", "9999-12-31T23:59:59.999999Z"]  # fmt: skip
ANY_TIME = st.one_of(st.sampled_from(EDGES), DATES, DATE_TIMES)
#: Query parameters that take a time, in every API.
TIME_PARAMETERS = {"since", "until", "date", "datetime", "start_date", "end_date",
                   "train_since", "train_until", "test_since", "test_until"}  # fmt: skip
NUL = "a\x00b"
UNSTORABLE_TEXT = ["\ud800", "\udfff\ud800", NUL]
DEEP_BODIES = [b"[" * 50_000 + b"]" * 50_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000]
HUGE_IDS = [2**63 - 1, 2**63, 10**30]
CHECKS = [schemathesis.checks.not_a_server_error]
OGC_CHECKS = [*CHECKS, schemathesis.checks.status_code_conformance,
              schemathesis.checks.content_type_conformance]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def dates_from_the_whole_calendar():
    """Every ``date`` and ``date-time`` in the documents is drawn from years 1 to 9999."""
    schemathesis.openapi.format("date", DATES)
    schemathesis.openapi.format("date-time", DATE_TIMES)
    yield
    unregister_string_format("date")
    unregister_string_format("date-time")


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    app = tiny_app(folder)
    with app.app_context():
        from web.state import store

        store().add_reports(sample_reports())
    return app


@pytest.mark.parametrize(
    ("document", "at_least", "max_examples", "checks"),
    [("/api/openapi.json", 20, 40, CHECKS),
     ("/open311/v2/openapi.json", 5, 60, CHECKS),
     ("/ogc/api", 6, 25, OGC_CHECKS)],
    ids=["api", "open311", "ogc"],
)  # fmt: skip
def test_no_request_makes_an_api_fail(fuzzed_app, document, at_least, max_examples, checks):
    schema = schemathesis.openapi.from_wsgi(document, fuzzed_app)
    schema.hook(flatmap_case)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= at_least
    for operation in operations:  # as an admin: an anonymous fuzz would stop at 401
        _fuzz(operation, max_examples, checks, auth_header(fuzzed_app))


def _fuzz(operation, max_examples: int, checks, headers: dict) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case):
        case.call_and_validate(checks=checks, headers=headers)

    check()


# --- bending the generated cases -------------------------------------------------------------


def flatmap_case(context, case):
    """The case as generated, or bent one way towards input that once broke the server."""
    return st.one_of(
        st.just(case),
        st.sampled_from(UNSTORABLE_TEXT).map(partial(_with_text, case)),
        ANY_TIME.map(partial(_with_times, case)),
        st.sampled_from(DEEP_BODIES).map(partial(_with_raw_json, case)),
        st.just(10**400).map(partial(_with_number, case)),
        st.sampled_from(HUGE_IDS).map(partial(_with_ids, case)),
    )


def _with_text(case, text: str):
    if text == NUL and case.query:  # a URL can carry a NUL, not half a surrogate pair
        case.query = {**case.query, sorted(case.query)[0]: text}
    if isinstance(case.body, dict | list) and (_is_json(case) or text == NUL):
        body = _replace_first(case.body, str, text)
        # JSON carries half a surrogate pair only as an escape, which json.dumps writes.
        case.body = json.dumps(body).encode() if _is_json(case) else body
    return case


def _with_times(case, moment: str):
    names = {p.name for p in case.operation.query} & TIME_PARAMETERS
    if names:
        case.query = {**(case.query or {}), **dict.fromkeys(names, moment)}
    return case


def _with_raw_json(case, body: bytes):
    if _is_json(case):
        case.body = body
    return case


def _with_number(case, number: int):
    if _is_json(case) and isinstance(case.body, dict | list):
        case.body = json.dumps(_replace_first(case.body, int | float, number)).encode()
    return case


def _with_ids(case, report_id: int):
    for name in case.path_parameters or {}:
        if name.lower().endswith("id"):
            case.path_parameters = {**case.path_parameters, name: report_id}
    return case


def _is_json(case) -> bool:
    return (case.media_type or "").startswith("application/json")


def _replace_first(value, kind, new):
    """A copy of a JSON value with its first leaf of type ``kind`` replaced by ``new``."""
    if isinstance(value, dict):
        keys = [k for k in value if _holds(value[k], kind)]
        return {**value, keys[0]: _replace_first(value[keys[0]], kind, new)} if keys else value
    if isinstance(value, list):
        index = next((i for i, item in enumerate(value) if _holds(item, kind)), None)
        if index is None:
            return value
        return [*value[:index], _replace_first(value[index], kind, new), *value[index + 1 :]]
    return new if isinstance(value, kind) and not isinstance(value, bool) else value


def _holds(value, kind) -> bool:
    if isinstance(value, dict):
        return any(_holds(item, kind) for item in value.values())
    if isinstance(value, list):
        return any(_holds(item, kind) for item in value)
    return isinstance(value, kind) and not isinstance(value, bool)
