"""Revision 0003 (redraw): a store of the release before it (revision 0002) upgrades, nothing lost.

The 0002 store is made as that release's users have it: the previous release's
store (tests/storage/fixtures) brought to revision 0002 only, then given accounts,
tokens and audit events by the people code. Opening it with today's code applies
0003: every row of every table is still there, unchanged, and the new columns
and tables are empty.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

import psycopg
import pytest

from geogrid.storage import open_store
from geogrid.storage.migrations import (
    _ALEMBIC,
    _scripts,
    alembic_config,
    current_revision,
    head_revision,
)
from tests.storage.fixtures.make_previous_release import read_back
from tests.storage.test_migrations import (  # noqa: F401 (fixtures, used by name)
    expected_after_upgrade,
    previous_url,
    query,
    same_as_before,
    table_names,
)


def upgrade_to(url: str, target: str) -> None:
    """Apply the revisions up to ``target`` only, as the release that ended there would."""
    # Deferred: Alembic loads only where a test migrates by hand.
    from alembic.runtime.environment import EnvironmentContext

    store = open_store(url, upgrade=False)
    scripts = _scripts()

    def steps(revision, _context):
        return scripts._upgrade_revs(target, revision)

    try:
        with store.db.migration_connection() as connection, _ALEMBIC, EnvironmentContext(
            alembic_config(connection), scripts, fn=steps, destination_rev=target
        ):  # fmt: skip
            scripts.run_env()
    finally:
        store.close()


@pytest.fixture
def store_0002(previous_url) -> str:  # noqa: F811
    """A store at revision 0002 with the previous release's data, accounts and audit events."""
    upgrade_to(previous_url, "0002")
    store = open_store(previous_url, upgrade=False)
    assert current_revision(store.db) == "0002"
    store.accounts.add_user("li.si", "commander", ["2"], display_name="李四",
                            password="a long passphrase", actor="cli:root")  # fmt: skip
    store.accounts.issue_token("li.si", days=30, label="手机", actor="cli:root")
    store.accounts.add_user("wang.wu", "planner", actor="cli:root")
    store.close()
    return previous_url


def every_row(url: str) -> dict[str, tuple[list[str], list[tuple]]]:
    """Each table's column names and rows, in a stable order."""
    tables = sorted(t for t in table_names(url) if t not in ("spatial_ref_sys", "alembic_version"))
    return {table: rows_of(url, table) for table in tables}


def rows_of(url: str, table: str, columns: list[str] | None = None) -> tuple[list[str], list]:
    listed = ", ".join(columns) if columns else "*"
    sql = f"SELECT {listed} FROM {table}"
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
            cursor = connection.execute(sql)
            names, rows = [d[0] for d in cursor.description], cursor.fetchall()
    else:
        with psycopg.connect(url) as connection:
            cursor = connection.execute(sql)
            names, rows = [d.name for d in cursor.description], cursor.fetchall()
    return names, sorted(rows, key=repr)


def test_a_0002_store_upgrades_with_nothing_lost(store_0002):
    before = every_row(store_0002)
    assert {"users", "api_tokens", "audit_events"} <= set(before)
    store = open_store(store_0002)  # applies 0003
    assert current_revision(store.db) == head_revision() >= "0003"
    same_as_before(read_back(store), expected_after_upgrade())
    assert [u.name for u in store.accounts.users()] == ["li.si", "wang.wu"]
    assert store.accounts.user("li.si").scope == ("2",)
    store.close()
    for table, (columns, rows) in before.items():
        assert rows_of(store_0002, table, columns) == (columns, rows), table
    assert {"redraw_drafts", "redraw_moves"} <= set(table_names(store_0002))
    assert query(store_0002, "SELECT COUNT(*) FROM redraw_drafts") == [(0,)]
    dates = query(store_0002, "SELECT starts_on, ends_on FROM generations ORDER BY id")
    assert dates == [(None, None), (None, None)]  # unknown for generations stored before


def test_an_upgraded_store_keeps_drafts_and_dates(store_0002):
    store = open_store(store_0002)
    generations = store.generations()
    assert [(g.starts_on, g.ends_on) for g in generations] == [(None, None), (None, None)]
    draft = store.drafts.create("街道 v1", "street", "", actor="cli:root")
    assert draft.base_generation == store.active_generation_id() == generations[-1].id
    assert sorted(set(draft.assignment.values())) == ["1", "2"]
    store.activate(generations[0].id, actor="cli:root")
    old, new = store.generations()
    assert old.ends_on is None and old.starts_on is not None and new.ends_on == old.starts_on
    store.close()
