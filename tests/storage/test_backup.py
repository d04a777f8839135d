"""``geogrid backup``: a copy of the whole store, taken while reports keep arriving.

The backup is restored the way the README says (the SQLite copy opened in
place of the store, the PostgreSQL archive through ``pg_restore``) and compared
with the store it came from.
"""

from __future__ import annotations

import shutil
import stat
import subprocess

import pytest

from geogrid.cli import main
from geogrid.storage import open_store
from tests.storage.conftest import _admin, _url
from tests.storage.test_contract import count, report, tiny_hierarchy
from tests.storage.test_reliability import (
    Processes,
    _assert_one_history_row_per_report,
    query,
    wait_for_reports,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def writers():
    """Writer processes; any still running at teardown are killed."""
    started = Processes()
    yield started
    started.kill_all()


@pytest.fixture
def restore(tmp_path):
    """Restore a backup as the README says; returns the restored store's URL."""
    databases = []

    def restore(url: str, backup) -> str:
        if url.startswith("sqlite:///"):
            shutil.copy2(backup, tmp_path / "restored.db")
            return f"sqlite:///{tmp_path / 'restored.db'}"
        name = f"{url.rsplit('/', 1)[1]}_restored"
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        databases.append(name)
        command = ["pg_restore", "--exit-on-error", f"--dbname={_url(name)}", str(backup)]
        subprocess.run(command, check=True, capture_output=True)
        return _url(name)

    yield restore
    for name in databases:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reports_by_id(url: str) -> dict[int, tuple]:
    rows = query(url, "SELECT id, external_id, description, code1 FROM reports")
    return {row[0]: row[1:] for row in rows}


def test_a_backup_taken_while_reports_arrive_restores_whole(
    store_url, writers, restore, tmp_path, capsys
):
    store = open_store(store_url)
    store.import_generation(tiny_hierarchy(), "v1", activate=True)
    stop = tmp_path / "stop"
    writer = writers.start("trickle", url=store_url, writer=0, stop=str(stop))
    wait_for_reports(store, 20, [writer])
    before = count(store)
    out = tmp_path / "backups" / "geogrid-2026-12-06.backup"
    out.parent.mkdir()
    assert main(["backup", str(out), "--store", store_url]) == 0
    after = count(store)
    stop.touch()
    writers.result(writer)
    assert f"backed up to {out}" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # nothing half-written beside
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    restored_url = restore(store_url, out)
    restored = reports_by_id(restored_url)
    assert before <= len(restored) <= after
    original = reports_by_id(store_url)
    assert {i: original[i] for i in restored} == restored
    _assert_one_history_row_per_report(restored_url, len(restored))
    copy = open_store(restored_url)
    assert copy.active_generation().label == "v1"
    assert copy.add_report(report(external_id="after-restore")).codes["grid"] == "101"
    copy.close()
    store.close()


def test_a_backup_never_overwrites_a_file(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'geogrid.db'}"
    open_store(url).close()
    (tmp_path / "backups").mkdir()
    out = tmp_path / "backups" / "yesterday.db"
    out.write_bytes(b"an older backup")
    assert main(["backup", str(out), "--store", url]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"an older backup"
    assert list(out.parent.iterdir()) == [out]


def test_a_backup_of_a_missing_store_creates_nothing(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'tyop.db'}"
    assert main(["backup", str(tmp_path / "b.db"), "--store", url]) == 2
    assert "no store at" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
