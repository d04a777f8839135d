"""Stores for the contract tests: a fresh SQLite file, and a fresh PostGIS database.

PostGIS tests need a PostgreSQL server with PostGIS (``scripts/setup_postgis.sh``
sets one up). Without one they skip on a developer's machine; under CI
(``CI=true``) they fail instead, because a skipped PostGIS test there would hide
a broken backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from geogrid.storage import open_store

#: Maintenance database to create test databases from; the local socket by default.
ADMIN_URL = os.environ.get("GEOGRID_TEST_POSTGRES", "postgresql:///postgres")
TEMPLATE = "geogrid_test_template"
BACKENDS = ["sqlite", "postgis"]


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostGIS is required under CI: {reason}")
    pytest.skip(f"no PostGIS here: {reason}")


def _admin():
    import psycopg

    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        _unavailable(str(exc).strip())


@pytest.fixture(scope="session")
def postgis_template():
    """A template database with PostGIS installed, made once per test session."""
    with _admin() as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,))
        if exists.fetchone() is None:
            admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
        url = _url(TEMPLATE)
        import psycopg

        try:
            with psycopg.connect(url, autocommit=True) as db:
                db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg.Error as exc:
            _unavailable(str(exc).strip())
    return TEMPLATE


def _url(database: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


@contextmanager
def fresh_postgis(template: str) -> Iterator[str]:
    """The URL of a new, empty PostGIS database made from ``template``, dropped on exit."""
    name = f"geogrid_test_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _url(name)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgis_url(postgis_template):
    """The URL of a new, empty PostGIS database, dropped after the test."""
    with fresh_postgis(postgis_template) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    """A fresh store URL of each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'geogrid.db'}"
    return request.getfixturevalue("postgis_url")


@pytest.fixture
def store(store_url):
    """A fresh, open store of each backend."""
    opened = open_store(store_url)
    yield opened
    opened.close()
