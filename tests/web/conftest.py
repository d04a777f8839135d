"""Web fixtures: an app over a fresh store, and the same app served over real HTTP."""

from __future__ import annotations

import threading
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from geogrid.clock import fixed_clock
from geogrid.reports import NewReport
from tests.conftest import SOUTH, STEP, WEST, write_tiny_district
from tests.storage.conftest import (
    fresh_postgis,
    postgis_template,  # noqa: F401 (a fixture, used by name)
)
from web import create_app

#: The time the test apps' clock reads: 10:00 in Shanghai, so "today" is the same
#: day in UTC and in local time, whatever the day and hour the tests run.
NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def tiny_app(folder: Path, manifest: Path | None = None, **config):
    """The app over a new SQLite store in ``folder`` holding the tiny district.

    The district is imported on first use; the app's clock reads :data:`NOW`;
    ``config`` adds or overrides settings.
    """
    manifest = manifest or write_tiny_district(folder / "district")
    app = create_app({"TESTING": True, "STORE": f"sqlite:///{folder / 'web.db'}",
                      "MANIFEST": str(manifest), "TILES": "none",
                      "CLOCK": fixed_clock(NOW), **config})  # fmt: skip
    return signed_in_as_admin(app)


class SignedInClient(FlaskClient):
    """A test client that sends the app's test token: an admin's, unless told otherwise.

    ``client.environ_base.pop("HTTP_AUTHORIZATION")`` makes it anonymous;
    :func:`token_for` gives tokens of other roles and scopes.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        token = self.application.config.get("TEST_TOKEN")
        if token:
            self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"


def signed_in_as_admin(app):
    """Give ``app`` an admin account whose token its test clients send by default."""
    app.config["TEST_TOKEN"] = token_for(app, "test.admin", "admin")
    app.test_client_class = SignedInClient
    return app


def token_for(app, name: str, role: str, scope: list[str] | None = None) -> str:
    """A new account of ``role`` (and ``scope``) on the app's store, and a token for it."""
    from web.state import store as app_store

    with app.app_context():
        accounts = app_store().accounts
        accounts.add_user(name, role, scope, actor="test")
        return accounts.issue_token(name, days=30, actor="test")[0]


def anonymous(app) -> FlaskClient:
    """A test client that sends no credentials."""
    client = app.test_client()
    client.environ_base.pop("HTTP_AUTHORIZATION", None)
    return client


def auth_header(app) -> dict[str, str]:
    """The admin token as a header, for requests over real HTTP."""
    return {"Authorization": f"Bearer {app.config['TEST_TOKEN']}"}


@pytest.fixture
def app(tmp_path, tiny_manifest):
    """The app over a new SQLite store holding the tiny district (imported on first use)."""
    return tiny_app(tmp_path, tiny_manifest)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    """The app's store, for arranging data directly."""
    from web.state import store as app_store

    with app.app_context():
        return app_store()


def sample_reports() -> list[NewReport]:
    """A few reports in known grids: two in 101, one in 204, one outside."""
    return [
        NewReport("dispute.neighbour", WEST + 0.005, SOUTH + 0.005, source="resident",
                  external_id="r-1", description="楼上漏水"),
        NewReport("fire.lane", WEST + 0.006, SOUTH + 0.004, source="grid_worker",
                  external_id="r-2", description="消防通道堵塞"),
        NewReport("city.rubbish", WEST + 3.5 * STEP, SOUTH + 1.5 * STEP, source="hotline",
                  external_id="r-3", description="垃圾堆放"),
        NewReport("public_order.theft", WEST - 0.5, SOUTH, source="hotline",
                  external_id="r-4", description="电动车被盗"),
    ]  # fmt: skip


@pytest.fixture
def filled(store):
    """The store with :func:`sample_reports` in it."""
    store.add_reports(sample_reports(), actor="test")
    return store


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def each_store_app(request, tmp_path_factory):
    """The app over the tiny district and :func:`sample_reports`, on SQLite, then on PostGIS.

    One app per module and backend: tests that write must leave what others read.
    """
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        yield _with_sample_reports(tiny_app(folder))
        return
    with fresh_postgis(request.getfixturevalue("postgis_template")) as url:
        app = _with_sample_reports(tiny_app(folder, STORE=url))
        yield app
        with app.app_context():
            from web.state import store as app_store

            app_store().close()


def _with_sample_reports(app):
    from web.state import store as app_store

    with app.app_context():
        app_store().add_reports(sample_reports(), actor="test")
    return app


@contextmanager
def served(app):
    """Serve ``app`` over real HTTP on a free loopback port; yields its base URL.

    Werkzeug's threaded server stops cleanly (``shutdown``), which a test needs;
    production serving is Granian (``python -m web``, tested in test_serve.py).
    """
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        urllib.request.urlopen(base + "/api/levels", timeout=30).read()  # store set up
        yield base
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on a free loopback port; yields its base URL."""
    with served(app) as base:
        yield base
