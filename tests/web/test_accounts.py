"""The demo accounts of ``python -m web``: one per role on a new store, printed once, working."""

from __future__ import annotations

import http.cookiejar
import re
import signal
import urllib.parse
import urllib.request

from tests.web.test_serve import _free_port, _logged, _start, _wait_until

ACCOUNT_LINE = re.compile(r"^  (demo\.\w+)\s+(\w+)\s+(\S+)\s+scope: (.+)$", re.MULTILINE)


def _serve_until_ready(folder, manifest, port):
    process = _start(folder, manifest, port, WORKERS="1")
    _wait_until(lambda: _logged(folder, "Started worker") >= 1 or process.poll() is not None,
                120, "a worker")  # fmt: skip
    assert process.poll() is None, (folder / "server.log").read_text()
    return process


def _stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        process.stdout_file.close()


def _sign_in(base: str, name: str, password: str) -> dict:
    """Sign in through the page as a browser would; the /api/me of the session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login", timeout=30).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"name": name, "password": password, "csrf_token": token})
    opener.open(base + "/login", data=form.encode(), timeout=30).read()
    return __import__("json").loads(opener.open(base + "/api/me", timeout=30).read())


def test_a_new_store_gets_one_demo_account_per_role_printed_once(tmp_path, tiny_manifest):
    from geogrid.access import ROLES

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = _serve_until_ready(tmp_path, tiny_manifest, port)
    try:
        log = (tmp_path / "server.log").read_text()
        accounts = ACCOUNT_LINE.findall(log)
        assert sorted(role for _, role, _, _ in accounts) == sorted(ROLES)
        assert "/login" in log and "geogrid users add" in log
        scopes = {role: scope for _, role, _, scope in accounts}
        assert scopes["commander"] == "whole district" and scopes["grid_worker"] == "101"
        for name, role, password, _ in accounts:
            me = _sign_in(base, name, password)
            assert (me["name"], me["role"], me["via"]) == (name, role, "session")
    finally:
        _stop(process)
    process = _serve_until_ready(tmp_path, tiny_manifest, port)
    try:
        assert ACCOUNT_LINE.findall((tmp_path / "server.log").read_text()) == []
    finally:
        _stop(process)


def test_a_store_that_held_boundaries_before_gets_no_demo_accounts(tmp_path, tiny_manifest):
    from geogrid import Hierarchy
    from geogrid.storage import open_store

    # As a city's store upgraded from the previous release: boundaries, no accounts.
    kept = open_store(f"sqlite:///{tmp_path / 'served.db'}")
    kept.import_generation(Hierarchy.from_manifest(tiny_manifest), "2026", activate=True)
    kept.close()
    process = _serve_until_ready(tmp_path, tiny_manifest, _free_port())
    try:
        log = (tmp_path / "server.log").read_text()
        assert ACCOUNT_LINE.findall(log) == [] and "no accounts yet" in log
        assert open_store(f"sqlite:///{tmp_path / 'served.db'}").accounts.users() == []
    finally:
        _stop(process)
