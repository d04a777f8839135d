"""``python -m web``: the production server, started as the README's serve command starts it.

A real Granian server in its own process with two worker processes, over a
SQLite store and the tiny district, answered over loopback HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from geogrid.storage import open_store
from tests.conftest import SOUTH, STEP, WEST
from tests.patrol import DATA

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _state_and_parent(pid: int | str) -> tuple[str, int] | None:
    """A process's state letter and parent id from /proc, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid``."""
    return {
        int(entry.name)
        for entry in Path("/proc").glob("[0-9]*")
        if (_state_and_parent(entry.name) or ("", 0))[1] == pid
    }


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def _wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _answers(base: str) -> bool:
    try:
        _get(base + "/api/levels")
    except OSError:
        return False
    return True


def _start(folder: Path, manifest: Path, port: int, **more: str) -> subprocess.Popen:
    """``python -m web`` with two workers over a new store, logging to ``server.log``.

    ``more`` settings (names without the prefix) are added or override those.
    """
    settings = {"STORE": f"sqlite:///{folder / 'served.db'}", "MANIFEST": str(manifest),
                "PORT": str(port), "WORKERS": "2", "TILES": "none",
                # the shared point index beside the store, not in the machine's temp folder
                "INDEX_FOLDER": str(folder / "index"), **more}  # fmt: skip
    env = os.environ | {f"GEOGRID_{name}": value for name, value in settings.items()}
    log = (folder / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "web"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    process.stdout_file = log
    return process


def _logged(folder: Path, text: str) -> int:
    """How often the server's log says ``text`` (a worker says "Started" once it is ready)."""
    return (folder / "server.log").read_text().count(text)


@pytest.fixture
def served(tmp_path, tiny_manifest):
    """``python -m web`` with two workers; yields (base URL, server process)."""
    port = _free_port()
    process = _start(tmp_path, tiny_manifest, port)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _logged(tmp_path, "Started worker") == 2 or process.poll() is not None,
                    120, "two workers")  # fmt: skip
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        assert _answers(base)
        yield base, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            process.stdout_file.close()


def test_serve_answers_lookups_from_two_worker_processes(served):
    base, process = served
    assert len(_children(process.pid)) == 2
    # 64 points over the 4 × 2 grid centres; codes numbered as in tests/conftest.py.
    cells = [(i % 4, i // 4 % 2) for i in range(64)]
    expected = [f"{1 + column // 2}0{column % 2 * 2 + row + 1}" for column, row in cells]
    urls = [f"{base}/api/lookup?lon={WEST + STEP * (column + 0.5)}&lat={SOUTH + STEP * (row + 0.5)}"
            for column, row in cells]  # fmt: skip
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(_get, urls))
    assert [a["codes"]["grid"] for a in answers] == expected
    assert {a["status"] for a in answers} == {"assigned"}


def test_a_worker_that_dies_is_replaced_and_serving_goes_on(served):
    base, process = served
    victim = min(_children(process.pid))
    os.kill(victim, signal.SIGKILL)
    _wait_until(lambda: len(_children(process.pid) - {victim}) == 2, 60, "a new worker")
    assert _get(f"{base}/api/lookup?lon={WEST + STEP / 2}&lat={SOUTH + STEP / 2}")["codes"] == {
        "street": "1",
        "grid": "101",
    }


def _living_children(pid: int) -> set[int]:
    """Child processes that are still running (a killed worker stays a zombie a while)."""
    return {child for child in _children(pid) if _running(child)}


def _looks_up(url: str) -> bool:
    """Whether a lookup is answered, with grid 101."""
    try:
        return _get(url)["codes"]["grid"] == "101"
    except OSError:
        return False


def test_workers_killed_young_again_and_again_are_replaced_and_serving_goes_on(served, tmp_path):
    # As an OOM killer or a native crash would: a worker dies, then its replacements
    # die seconds after they start. Granian alone calls that a crash loop and stops.
    base, process = served
    lookup = f"{base}/api/lookup?lon={WEST + STEP / 2}&lat={SOUTH + STEP / 2}"
    seen = _living_children(process.pid)
    victim = min(seen)
    for _ in range(3):
        os.kill(victim, signal.SIGKILL)
        # The other worker serves meanwhile; a connection the kernel handed to the
        # dying worker may be reset, so the lookup is asked again until answered.
        _wait_until(lambda: _looks_up(lookup), 10, "the other worker to answer")
        _wait_until(lambda: _living_children(process.pid) - seen, 60, "a replacement worker")
        victim = min(_living_children(process.pid) - seen)
        seen.add(victim)
    os.kill(victim, signal.SIGKILL)
    _wait_until(lambda: _logged(tmp_path, "Started worker") >= 3, 120, "a worker to start")
    assert process.poll() is None, (tmp_path / "server.log").read_text()
    assert len(_living_children(process.pid)) == 2
    assert _logged(tmp_path, "starting another in") == 4
    with ThreadPoolExecutor(8) as pool:  # new connections: the kernel hands them to both workers
        answers = list(pool.map(_get, [lookup] * 32))
    assert {a["codes"]["grid"] for a in answers} == {"101"}


def _running(pid: int) -> bool:
    """Whether a process is alive (a zombie waiting for its parent counts as gone)."""
    found = _state_and_parent(pid)
    return found is not None and found[0] != "Z"


def test_serve_stops_cleanly_on_sigterm_workers_and_all(served):
    _, process = served
    workers = _children(process.pid)
    assert len(workers) == 2 and all(_running(pid) for pid in workers)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    _wait_until(lambda: not any(_running(pid) for pid in workers), 30, "the workers to stop")


def test_sigterm_while_workers_are_still_loading_stops_the_server(tmp_path, tiny_manifest):
    process = _start(tmp_path, tiny_manifest, _free_port())
    try:
        _wait_until(lambda: _logged(tmp_path, "Spawning worker") == 2, 120, "the workers")
        workers = _children(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        _wait_until(lambda: not any(_running(pid) for pid in workers), 30, "the workers to stop")
    finally:
        process.kill()
        process.stdout_file.close()


def _commander_token(store_url: str) -> str:
    """A commander's token in the store a server is about to serve."""
    accounts = open_store(store_url).accounts
    accounts.add_user("test.commander", "commander", actor="test")
    return accounts.issue_token("test.commander", days=1, actor="test")[0]


def _post_json(url: str, body: dict, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json",
                                      "Authorization": f"Bearer {token}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, json.load(response)


def test_a_lookup_is_answered_while_a_costly_request_computes_in_the_same_worker(
    tmp_path, tiny_manifest
):
    # One worker, so the lookup cannot go to another; the plan searches for 5 s.
    port = _free_port()
    token = _commander_token(f"sqlite:///{tmp_path / 'served.db'}")
    process = _start(tmp_path, tiny_manifest, port, WORKERS="1",
                     PATROL_NETWORK=str(DATA / "lattice.geojson"))  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    places = [{"weight": 1 + i, "lon": WEST + 0.005 * (i % 5), "lat": SOUTH + 0.005 * (i // 5)}
              for i in range(10)]  # fmt: skip
    plan = {"start": {"lon": WEST, "lat": SOUTH}, "places": places, "time_limit_s": 5}
    try:
        _wait_until(lambda: _logged(tmp_path, "Started worker") == 1, 120, "the worker")
        with ThreadPoolExecutor(1) as pool:
            planned = pool.submit(_post_json, base + "/api/patrol/plan", plan, token)
            time.sleep(1)  # the plan is computing
            answer = _get(f"{base}/api/lookup?lon={WEST + STEP / 2}&lat={SOUTH + STEP / 2}")
            assert not planned.done(), "the lookup waited for the plan"
            assert answer["codes"]["grid"] == "101"
            assert planned.result()[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        process.stdout_file.close()
