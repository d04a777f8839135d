"""Two app servers on one PostGIS database, as docs/deploy/ runs N of them behind nginx.

Two ``python -m web`` processes (one worker each, ports of their own) over one new
PostGIS database holding the tiny district: both take the same reports at once
(each stored once), and a generation activated with ``geogrid activate`` while
they serve is what the next request to either assigns under and maps.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from geogrid.reports import NewReport
from geogrid.storage import open_store
from tests.conftest import write_tiny_district
from tests.storage.conftest import fresh_postgis
from tests.storage.test_contract import IN_101, redrawn_hierarchy, tiny_hierarchy
from tests.web.test_serve import ROOT, _free_port, _get, _logged, _start, _wait_until

#: Reports each server is sent: every one goes to both at once.
TWINS = 24


@pytest.fixture(scope="module")
def shared_store(postgis_template):
    """A new PostGIS store with the tiny district current, a redraw of it stored (not
    current) and a commander's token: (URL, redrawn generation's id, token)."""
    with fresh_postgis(postgis_template) as url:
        store = open_store(url)
        store.import_generation(tiny_hierarchy(), "v1", activate=True, actor="test")
        redrawn = store.import_generation(redrawn_hierarchy(), "v2", actor="test")
        store.accounts.add_user("test.commander", "commander", actor="test")
        token = store.accounts.issue_token("test.commander", days=1, actor="test")[0]
        store.close()
        yield url, redrawn.id, token


@pytest.fixture(scope="module")
def two_servers(shared_store, tmp_path_factory):
    """Servers A and B on the shared store, one worker each; yields their base URLs.

    Started once for this module's tests, which run in order: intake, then activation.
    """
    url, tmp_path = shared_store[0], tmp_path_factory.mktemp("two_servers")
    tiny_manifest = write_tiny_district(tmp_path / "district")
    folders = [tmp_path / "a", tmp_path / "b"]
    ports = [_free_port(), _free_port()]
    processes = []
    try:
        for folder, port in zip(folders, ports, strict=True):
            folder.mkdir()
            # One index folder of their own, as two servers on one machine share one.
            processes.append(_start(folder, tiny_manifest, port, STORE=url, WORKERS="1",
                                    MEDIA_FOLDER=str(tmp_path / "media"),
                                    INDEX_FOLDER=str(tmp_path / "index")))  # fmt: skip
        for folder, process in zip(folders, processes, strict=True):
            _wait_until(lambda f=folder, p=process: _logged(f, "Started worker") == 1
                        or p.poll() is not None, 120, f"server {folder.name}")  # fmt: skip
            assert process.poll() is None, (folder / "server.log").read_text()
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            finally:
                process.stdout_file.close()


def _post(url: str, body: dict, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json",
                                      "Authorization": f"Bearer {token}"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _report(n: int, lon_lat=IN_101) -> dict:
    return {"category": "dispute.neighbour", "lon": lon_lat[0], "lat": lon_lat[1],
            "external_id": f"twin-{n}", "description": f"第{n}号"}  # fmt: skip


def test_both_servers_take_the_same_reports_at_once_and_store_each_once(shared_store,
                                                                        two_servers):  # fmt: skip
    url, _, token = shared_store
    sends = [(base + "/api/reports", _report(n)) for n in range(TWINS) for base in two_servers]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda send: _post(*send, token), sends))
    assert {status for status, _ in answers} <= {200, 201}, answers
    for n in range(TWINS):
        (a_status, a), (b_status, b) = answers[2 * n], answers[2 * n + 1]
        assert a["id"] == b["id"] and sorted((a_status, b_status)) == [200, 201]
    store = open_store(url)
    with store.db.transaction(write=False) as tx:
        rows = store.db.rows(tx, "SELECT external_id, COUNT(*) AS n FROM reports GROUP BY "
                                 "external_id")  # fmt: skip
        entries = store.db.rows(tx, "SELECT COUNT(*) AS n FROM report_history")[0]["n"]
    store.close()
    assert sorted(r["external_id"] for r in rows) == sorted(f"twin-{n}" for n in range(TWINS))
    assert {r["n"] for r in rows} == {1} and entries == TWINS  # one "received" entry each


def _grid_codes(base: str) -> set[str]:
    return {f["properties"]["code"] for f in _get(base + "/api/levels/grid/grids")["features"]}


def test_a_generation_activated_elsewhere_is_served_by_both_at_once(shared_store, two_servers):
    url, redrawn, token = shared_store
    for base in two_servers:  # both assign and map under v1, and keep it in their caches
        assert _post(base + "/api/reports", _report(base[-5:]), token)[1]["codes"]["grid"] == "101"
        assert "101" in _grid_codes(base) and "105" not in _grid_codes(base)
    command = [sys.executable, "-m", "geogrid.cli", "activate", str(redrawn), "--store", url]
    activated = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert activated.returncode == 0, activated.stderr
    for n, base in enumerate(two_servers):
        status, stored = _post(base + "/api/reports", _report(100 + n), token)
        assert status == 201 and stored["generation_id"] == redrawn
        assert stored["codes"] == {"street": "1", "grid": "105"}
        lookup = _get(f"{base}/api/lookup?lon={IN_101[0]}&lat={IN_101[1]}")
        assert lookup["codes"]["grid"] == "105"
        assert {"105", "106"} <= _grid_codes(base) and "101" not in _grid_codes(base)
    # The reports stored under v1 by either server were re-assigned by the activation.
    store = open_store(url)
    assert {r.codes["grid"] for r in store.find_reports().items} == {"105"}
    store.close()


def test_a_report_stored_by_another_server_after_this_one_looked_is_not_stored_again(
    postgis_template, monkeypatch
):
    """Inside each server, deterministically: the other server stores the report between
    this one's look for its external id and its insert; the unique index refuses the
    second copy, and the next try finds the first."""
    report = NewReport("dispute.neighbour", *IN_101, external_id="race-1")
    with fresh_postgis(postgis_template) as url:
        first, second = open_store(url), open_store(url)
        first.import_generation(tiny_hierarchy(), "v1", activate=True, actor="test")
        looked, stored = second.db.find_external_ids, []

        def then_the_other_stores_it(tx, keys):
            found = looked(tx, keys)
            if not stored:
                stored.extend(first.add_reports([report]))
            return found

        monkeypatch.setattr(second.db, "find_external_ids", then_the_other_stores_it)
        (again,) = second.add_reports([report])
        total = second.find_reports().total
        first.close()
        second.close()
    assert (stored[0].created, again.created, again.id, total) == (True, False, stored[0].id, 1)
