"""Schema migrations: a store of the previous release opens with today's code, nothing lost.

The previous release's store comes from tests/storage/fixtures (made by that
release's own code; see make_previous_release.py), loaded into a new SQLite file
or a new PostGIS database, then opened with today's code, which upgrades it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from geogrid.cli import main
from geogrid.storage import SchemaVersionError, open_store
from geogrid.storage.migrations import (
    _scripts,
    alembic_config,
    current_revision,
    head_revision,
    pending_revisions,
    upgrade,
)
from tests.storage.conftest import BACKENDS, _unavailable, fresh_postgis
from tests.storage.fixtures.make_previous_release import OPEN311_REPORTERS, read_back

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "previous-release.expected.json").read_text(encoding="utf-8"))
HEAD = head_revision()
CONTACT_COLUMNS = ("contact_name", "contact_phone", "contact_email", "contact_device",
                   "contact_account")  # fmt: skip


def load_sqlite(path: Path) -> str:
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript((FIXTURES / "previous-release.sqlite.sql").read_text("utf-8"))
    return f"sqlite:///{path}"


def load_postgis(url: str) -> str:
    if shutil.which("psql") is None:
        _unavailable("psql (PostgreSQL's client) is not installed")
    command = ["psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", f"--dbname={url}",
               f"--file={FIXTURES / 'previous-release.postgis.sql'}"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, text=True)
    return url


@pytest.fixture(params=BACKENDS)
def previous_url(request, tmp_path) -> str:
    """A new store of each backend holding the previous release's store, not yet opened."""
    if request.param == "sqlite":
        return load_sqlite(tmp_path / "previous.db")
    return load_postgis(request.getfixturevalue("postgis_url"))


@pytest.fixture
def new_url(request, previous_url, tmp_path):
    """A new, empty store of the same backend as ``previous_url``."""
    if previous_url.startswith("sqlite:///"):
        yield f"sqlite:///{tmp_path / 'new.db'}"
        return
    with fresh_postgis(request.getfixturevalue("postgis_template")) as url:
        yield url


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows straight from the database, around the store."""
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
            return connection.execute(sql, params).fetchall()
    with psycopg.connect(url) as connection:
        return connection.execute(sql.replace("?", "%s"), params).fetchall()


def execute(url: str, sql: str) -> None:
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
            connection.execute(sql)
            connection.commit()
        return
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql)


def revision(url: str) -> str | None:
    store = open_store(url, upgrade=False)
    try:
        return current_revision(store.db)
    finally:
        store.close()


def upgraded(url: str) -> dict:
    store = open_store(url)
    try:
        return read_back(store)
    finally:
        store.close()


def same_as_before(now: dict, before: dict, path: str = "") -> None:
    """``now`` holds everything ``before`` did, unchanged; it may hold more (new fields)."""
    if isinstance(before, dict):
        assert isinstance(now, dict), path
        for key, value in before.items():
            assert key in now, f"{path}.{key} is gone"
            same_as_before(now[key], value, f"{path}.{key}")
    elif isinstance(before, list):
        assert isinstance(now, list) and len(now) == len(before), path
        for number, (a, b) in enumerate(zip(now, before, strict=True)):
            same_as_before(a, b, f"{path}[{number}]")
    else:
        assert now == before, f"{path}: {now!r} != {before!r}"


def expected_after_upgrade() -> dict:
    """What the previous release read, with the Open311 history entries as 0002 leaves them."""
    after = json.loads(json.dumps(EXPECTED))
    for report in after["reports"]:
        for entry in report["history"]:
            if entry["action"] == "received" and entry["actor"].startswith("open311: "):
                entry["actor"] = "open311"
    return after


# --- the upgrade -------------------------------------------------------------------------------


def test_the_previous_release_opens_upgraded_with_nothing_lost(previous_url):
    assert revision(previous_url) is None
    assert upgraded(previous_url) == upgraded(previous_url)  # and reading changes nothing
    same_as_before(upgraded(previous_url), expected_after_upgrade())
    assert revision(previous_url) == HEAD


def test_what_was_read_before_is_all_there(previous_url):
    now = upgraded(previous_url)
    assert len(now["reports"]) == len(EXPECTED["reports"]) == 29
    for report, before in zip(now["reports"], EXPECTED["reports"], strict=True):
        for field in ("codes", "status", "deadline", "handler_code", "category", "lon", "lat"):
            assert report[field] == before[field], (report["id"], field)
        assert [(h["action"], h["to_status"], h["note"]) for h in report["history"]] == [
            (h["action"], h["to_status"], h["note"]) for h in before["history"]
        ]
    assert [g["label"] for g in now["generations"]] == ["2025 网格", "2026 调整"]
    assert [g["active"] for g in now["generations"]] == [False, True]
    assert all(len(g["roads"]) == 14 for g in now["generations"])
    assert (len(now["tracks"]), len(now["routes"]), len(now["hazards"])) == (2, 2, 1)


def test_open311_contact_details_move_out_of_the_history(previous_url):
    open_store(previous_url).close()
    contacts = query(previous_url, f"SELECT id, {', '.join(CONTACT_COLUMNS)} FROM reports "
                     "WHERE contact_name IS NOT NULL OR contact_phone IS NOT NULL "
                     "OR contact_email IS NOT NULL ORDER BY id")  # fmt: skip
    assert contacts == [
        (9, "张三", "13800001234", "zhang@example.cn", "IMEI-861234", None),
        (10, "Jane Doe", None, "jane.doe@example.org", None, "42"),
        (11, None, "13900005678", None, None, None),
        (28, "李四", None, "li.si@example.cn", "A1B2-C3", "u-77"),
    ]
    actors = query(previous_url, "SELECT DISTINCT actor FROM report_history")
    assert not [a for (a,) in actors if a.startswith("open311:")]
    assert OPEN311_REPORTERS[0] not in json.dumps(upgraded(previous_url), ensure_ascii=False)
    received = {r["id"]: r["history"][0]["actor"] for r in upgraded(previous_url)["reports"]}
    assert [received[i] for i in (9, 10, 11, 12, 28, 29)] == ["open311"] * 6


def test_opening_an_upgraded_store_again_changes_nothing(previous_url):
    open_store(previous_url).close()
    before = snapshot(previous_url)
    with commits_by_others(previous_url) as commits:
        for _ in range(2):
            open_store(previous_url).close()
    assert commits == [0]
    assert snapshot(previous_url) == before
    assert revision(previous_url) == HEAD


@contextmanager
def commits_by_others(url: str):
    """Yields a list that gets, on exit, how many transactions others committed (SQLite)."""
    counted: list[int] = []
    if not url.startswith("sqlite:///"):
        yield counted  # on PostgreSQL, snapshot() compares each row's writing transaction
        counted.append(0)
        return
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as watcher:
        (start,) = watcher.execute("PRAGMA data_version").fetchone()
        yield counted
        counted.append(watcher.execute("PRAGMA data_version").fetchone()[0] - start)


def snapshot(url: str) -> list:
    """Every row of every table, and on PostgreSQL the transaction that last wrote each."""
    tables = sorted(t for t in table_names(url) if t != "spatial_ref_sys")
    if url.startswith("sqlite:///"):
        return [(t, query(url, f"SELECT * FROM {t} ORDER BY rowid")) for t in tables]
    return [(t, query(url, f"SELECT xmin::text, ctid::text, * FROM {t} ORDER BY ctid"))
            for t in tables]  # fmt: skip


def test_opening_a_store_at_head_never_loads_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    open_store(url).close()
    program = (f"import sys; from geogrid.storage import open_store; open_store({url!r}); "
               "print(sorted(m for m in sys.modules if m.split('.')[0] in "
               "('alembic', 'sqlalchemy')))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert done.stdout.strip() == "[]"


# --- the schema --------------------------------------------------------------------------------


def test_a_new_store_and_an_upgraded_one_have_the_same_schema(previous_url, new_url):
    open_store(previous_url).close()
    open_store(new_url).close()
    assert schema(previous_url) == schema(new_url)
    assert {"users", "api_tokens", "audit_events", "app_secrets"} <= set(table_names(new_url))


def table_names(url: str) -> list[str]:
    if url.startswith("sqlite:///"):
        return [n for (n,) in query(url, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    tables = ("SELECT table_name FROM information_schema.tables "
              "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")  # fmt: skip
    return [n for (n,) in query(url, tables)]


def schema(url: str) -> dict:
    """Tables with their columns, indexes and triggers, as the database describes them."""
    if url.startswith("sqlite:///"):
        return {
            "columns": {t: query(url, f"PRAGMA table_info({t})") for t in table_names(url)},
            "indexes": query(url, "SELECT name, tbl_name, sql FROM sqlite_master "
                             "WHERE type IN ('index', 'trigger') ORDER BY name"),
        }  # fmt: skip
    return {
        "columns": query(url, "SELECT table_name, ordinal_position, column_name, data_type, "
                         "udt_name, is_nullable, "
                         "column_default, is_identity, is_generated, generation_expression "
                         "FROM information_schema.columns WHERE table_schema = 'public' "
                         "ORDER BY table_name, column_name"),
        "indexes": query(url, "SELECT tablename, indexname, indexdef FROM pg_indexes "
                         "WHERE schemaname = 'public' ORDER BY indexname"),
        "triggers": query(url, "SELECT event_object_table, trigger_name, event_manipulation, "
                          "action_timing, action_statement FROM information_schema.triggers "
                          "ORDER BY trigger_name, event_manipulation"),
        "sequences": query(url, "SELECT sequence_name FROM information_schema.sequences "
                           "ORDER BY sequence_name"),
    }  # fmt: skip


def test_the_audit_log_is_append_only(store_url):
    open_store(store_url).close()
    execute(store_url, "INSERT INTO audit_events (at, principal, action) "
            "VALUES ('2026-03-02T01:00:00+00:00', 'cli:root', 'user.manage')")  # fmt: skip
    for statement in ("UPDATE audit_events SET principal = 'someone else'",
                      "DELETE FROM audit_events"):  # fmt: skip
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
            execute(store_url, statement)
    assert query(store_url, "SELECT principal FROM audit_events") == [("cli:root",)]


# --- refusals ----------------------------------------------------------------------------------


def test_a_store_of_a_newer_geogrid_is_refused_and_left_alone(store_url):
    open_store(store_url).close()
    execute(store_url, "UPDATE alembic_version SET version_num = '0099'")
    before = snapshot(store_url), schema(store_url)
    with pytest.raises(SchemaVersionError, match=r"revision 0099.*newer geogrid"):
        open_store(store_url)
    store = open_store(store_url, upgrade=False)
    with pytest.raises(SchemaVersionError, match="newer geogrid"):
        upgrade(store.db, only_safe=False)
    store.close()
    assert (snapshot(store_url), schema(store_url)) == before


def test_a_revision_unsafe_online_waits_for_geogrid_db_upgrade(previous_url, capsys, monkeypatch):
    monkeypatch.setattr(_scripts().get_revision("0002").module, "online_safe", False)
    with pytest.raises(SchemaVersionError, match=r"revision 0002 cannot be applied.*geogrid db up"):
        open_store(previous_url)
    assert revision(previous_url) is None  # refused whole: not even 0001 was applied
    assert main(["db", "upgrade", "--store", previous_url]) == 0
    every = ", ".join(f"{n:04d}" for n in range(1, int(HEAD) + 1))
    assert f"revision none → {HEAD}: applied {every}" in capsys.readouterr().out
    monkeypatch.undo()
    same_as_before(upgraded(previous_url), expected_after_upgrade())


@pytest.mark.parametrize("made_by", ["previous release", "nobody yet"])
def test_a_failing_revision_leaves_the_store_as_it_was(made_by, previous_url, new_url,
                                                       monkeypatch):  # fmt: skip
    url = previous_url if made_by == "previous release" else new_url
    before = snapshot(url), schema(url)

    def fails(bind):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(_scripts().get_revision("0002").module, "move_open311_contacts", fails)
    with pytest.raises(RuntimeError, match="disk is full"):
        open_store(url)
    assert (snapshot(url), schema(url)) == before  # 0001's tables went with 0002's
    assert revision(url) is None


# --- the command line --------------------------------------------------------------------------


def test_db_current_and_upgrade_from_the_command_line(previous_url, capsys, monkeypatch):
    monkeypatch.setenv("GEOGRID_STORE", previous_url)
    assert main(["db", "current"]) == 0
    out = capsys.readouterr().out
    every = ", ".join(f"{n:04d}" for n in range(1, int(HEAD) + 1))
    assert "store revision: none" in out and f"pending:        {every}" in out
    assert main(["db", "upgrade", "--store", previous_url]) == 0
    assert capsys.readouterr().out.strip() == f"revision none → {HEAD}: applied {every}"
    assert main(["db", "upgrade", "--store", previous_url]) == 0
    assert "already at head, nothing to do" in capsys.readouterr().out
    assert main(["db", "current", "--store", previous_url]) == 0
    assert f"store revision: {HEAD}\n" in capsys.readouterr().out


def test_db_commands_refuse_a_missing_sqlite_store(tmp_path, capsys):
    missing = tmp_path / "missing.db"
    for command in ("current", "upgrade"):
        assert main(["db", command, "--store", f"sqlite:///{missing}"]) == 2
        assert "no store at" in capsys.readouterr().err
    assert not missing.exists()


def test_db_current_names_a_store_of_a_newer_geogrid(store_url, capsys):
    open_store(store_url).close()
    execute(store_url, "UPDATE alembic_version SET version_num = '0099'")
    assert main(["db", "current", "--store", store_url]) == 0
    assert "newer than this geogrid" in capsys.readouterr().out
    assert main(["db", "upgrade", "--store", store_url]) == 2
    assert "newer geogrid" in capsys.readouterr().err


# --- the revisions themselves ------------------------------------------------------------------


def test_the_head_is_what_alembic_reads_from_the_revision_files():
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_heads() == [HEAD]
    ids = [s.revision for s in scripts.walk_revisions()]
    assert ids == sorted(ids, reverse=True)  # one line of revisions, numbered in order
    for script in scripts.walk_revisions():
        assert Path(script.path).name.startswith(f"{script.revision}_")
        assert isinstance(script.module.online_safe, bool), script.revision
    assert pending_revisions(None) == sorted(ids)


def test_stores_opened_together_migrate_once(store_url):
    stores, errors = [], []

    def open_one():
        try:
            stores.append(open_store(store_url))
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert query(store_url, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert query(store_url, "SELECT COUNT(*) FROM state") == [(1,)]
    for store in stores:
        store.close()


def test_threads_opening_different_new_stores_each_get_their_own_schema(tmp_path):
    urls = [f"sqlite:///{tmp_path / f'store-{n}.db'}" for n in range(4)]
    threads = [threading.Thread(target=lambda u=url: open_store(u).close()) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [revision(url) for url in urls] == [HEAD] * 4
    assert len({json.dumps(schema(url)) for url in urls}) == 1


def test_a_postgis_url_with_the_server_in_its_query(postgis_url):
    """libpq URLs may name the server (a socket folder, say) as ``?host=``; kept for Alembic."""
    params = {k: v for k, v in conninfo_to_dict(postgis_url).items() if k != "dbname"}
    params.setdefault("host", query(postgis_url, "SHOW unix_socket_directories")[0][0])
    url = f"postgresql:///{conninfo_to_dict(postgis_url)['dbname']}?{urlencode(params)}"
    store = open_store(url)  # a new database: the migrations run
    assert current_revision(store.db) == HEAD
    store.close()
