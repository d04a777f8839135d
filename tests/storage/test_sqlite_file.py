"""The SQLite store's files on disk: who may read them."""

from __future__ import annotations

import os
import stat

import pytest

from geogrid.storage import open_store
from tests.storage.test_contract import report


@pytest.fixture
def open_umask():
    """A umask that takes nothing away, so modes come from geogrid alone."""
    before = os.umask(0)
    yield
    os.umask(before)


def modes(folder) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}


def test_a_new_store_is_readable_by_its_owner_only(tmp_path, open_umask):
    store = open_store(f"sqlite:///{tmp_path / 'geogrid.db'}")
    store.add_report(report())  # a write, so the -wal and -shm files exist
    assert modes(tmp_path) == {"geogrid.db": 0o600, "geogrid.db-wal": 0o600,
                               "geogrid.db-shm": 0o600}  # fmt: skip
    store.close()


def test_an_existing_store_keeps_the_mode_its_owner_gave_it(tmp_path, open_umask):
    path = tmp_path / "geogrid.db"
    open_store(f"sqlite:///{path}").close()
    path.chmod(0o640)
    store = open_store(f"sqlite:///{path}")
    store.add_report(report())
    assert modes(tmp_path) == {"geogrid.db": 0o640, "geogrid.db-wal": 0o640,
                               "geogrid.db-shm": 0o640}  # fmt: skip
    store.close()
