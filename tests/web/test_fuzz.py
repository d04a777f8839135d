"""Fuzz the JSON API from its own OpenAPI document: whatever comes in, never a 500.

schemathesis generates requests (valid and invalid) for every operation and
checks each response: no server error, status codes and content types as
documented. The store holds the tiny district and a few reports, so reads find
data and writes meet real rules.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.web.conftest import sample_reports, tiny_app


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    app = tiny_app(folder)
    with app.app_context():
        from web.state import store

        store().add_reports(sample_reports())
    return app


def test_no_request_makes_the_api_fail(fuzzed_app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzzed_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        _fuzz(operation)


def _fuzz(operation) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case):
        case.call_and_validate(checks=[schemathesis.checks.not_a_server_error])

    check()
