"""``geogrid reports import`` run again after it was killed, on every backend.

A row without ``external_id`` is known by the file's digest and its row number,
so running the same file again stores only the rows the first run did not
commit. The import runs as a real ``geogrid`` process and is killed with SIGKILL
inside a batch's transaction; nothing is mocked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from geogrid.cli import main
from geogrid.storage import open_store
from tests.storage.test_contract import tiny_hierarchy
from tests.storage.test_reliability import (
    ROOT,
    _assert_one_history_row_per_report,
    point,
    query,
    wait_for_server_cleanup,
    wait_inside_write_transaction,
)

ROWS, BATCH = 20_000, 1_000

pytestmark = pytest.mark.slow


def write_csv(path: Path, rows: range, external_ids: dict[int, str] | None = None) -> Path:
    """Reports at the test points, each with its number in the description."""
    external_ids = external_ids or {}
    lines = ["external_id,category,lon,lat,source,description"]
    for n in rows:
        lon, lat = point(n)
        lines.append(f"{external_ids.get(n, '')},fire.lane,{lon!r},{lat!r},hotline,第{n}号")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def district(store_url):
    """The store URL, with the tiny district active."""
    store = open_store(store_url)
    store.import_generation(tiny_hierarchy(), "v1", activate=True)
    store.close()
    return store_url


def stored(url: str) -> int:
    return query(url, "SELECT count(*) FROM reports")[0][0]


def descriptions(url: str) -> Counter:
    return Counter(row[0] for row in query(url, "SELECT description FROM reports"))


def import_file(url: str, path: Path, capsys, *options: str) -> tuple[int, str]:
    code = main(["reports", "import", str(path), "--store", url, *options])
    out = capsys.readouterr()
    return code, out.out + out.err


def start_import(url: str, path: Path, log: Path) -> subprocess.Popen:
    """``geogrid reports import`` as its own process; its output goes to a file, never blocks."""
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "geogrid.cli", "reports", "import", str(path),
             "--store", url, "--batch", str(BATCH)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip


def kill_halfway(url: str, process: subprocess.Popen, log: Path) -> int:
    """SIGKILL the import inside a batch's transaction once half the rows are in."""
    deadline = time.monotonic() + 60
    while stored(url) < ROWS // 2:
        assert process.poll() is None, f"the import ended early: {log.read_text()}"
        assert time.monotonic() < deadline, "half the rows not in after 60 s"
        time.sleep(0.01)
    wait_inside_write_transaction(url, process)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    wait_for_server_cleanup(url)
    return stored(url)


def test_an_import_killed_halfway_then_run_again_stores_each_row_once(district, tmp_path, capsys):
    path = write_csv(tmp_path / "reports.csv", range(ROWS))
    process = start_import(district, path, tmp_path / "import.log")
    left = kill_halfway(district, process, tmp_path / "import.log")
    assert left % BATCH == 0 and ROWS // 2 <= left < ROWS, "whole batches only, not all"

    code, out = import_file(district, path, capsys, "--batch", str(BATCH))
    assert code == 0, out
    assert f"{ROWS - left:,} stored, {left:,} already there" in out
    assert descriptions(district) == Counter(f"第{n}号" for n in range(ROWS))
    _assert_one_history_row_per_report(district, ROWS)
    code, out = import_file(district, path, capsys)
    assert f"0 stored, {ROWS:,} already there" in out


def test_rows_with_an_external_id_keep_their_rules(district, tmp_path, capsys):
    """Same external id and content: nothing new; other content: refused, nothing stored."""
    ids = {0: "h-0", 2: "h-2"}
    path = write_csv(tmp_path / "mixed.csv", range(4), ids)
    assert import_file(district, path, capsys)[0] == 0
    code, out = import_file(district, path, capsys)
    assert code == 0 and "0 stored, 4 already there" in out
    assert stored(district) == 4

    edited = path.read_text(encoding="utf-8").replace("第2号", "第2号 改")
    edited_path = tmp_path / "edited.csv"
    edited_path.write_text(edited, encoding="utf-8")
    code, out = import_file(district, edited_path, capsys)
    assert code == 2 and "external_id h-2: already used by report" in out
    assert stored(district) == 4


def test_different_files_and_identical_rows_are_all_kept(district, tmp_path, capsys):
    """Without an external id, geogrid cannot tell a resent row from a new report: it keeps it."""
    twice = write_csv(tmp_path / "twice.csv", [7, 7])
    other = write_csv(tmp_path / "other.csv", [7, 8])
    assert import_file(district, twice, capsys)[0] == 0
    code, out = import_file(district, other, capsys)
    assert code == 0 and "2 stored, 0 already there" in out
    assert descriptions(district) == Counter({"第7号": 3, "第8号": 1})
    assert "0 stored, 2 already there" in import_file(district, twice, capsys)[1]
