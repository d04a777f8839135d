"""``geogrid users …`` and ``geogrid audit`` from the command line."""

from __future__ import annotations

import getpass
import io
import json

import pytest

from geogrid.cli import main
from geogrid.storage import open_store


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'people.db'}"
    monkeypatch.setenv("GEOGRID_STORE", url)
    return url


def run(argv, capsys, stdin: str = "", monkeypatch=None):
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_accounts_from_the_command_line(store_url, capsys, monkeypatch):
    code, out, _ = run(["users", "add", "zhang.san", "--role", "grid_worker",
                        "--display-name", "张三", "--password-stdin"], capsys,
                       "a long passphrase\n", monkeypatch)  # fmt: skip
    assert code == 0 and "zhang.san (张三): grid_worker" in out
    code, out, err = run(["users", "token", "zhang.san", "--days", "7"], capsys)
    token = out.strip()
    assert code == 0 and token.startswith("ggt_") and "shown only now" in err
    store = open_store(store_url)
    assert store.accounts.principal_of_token(token).name == "zhang.san"
    assert store.accounts.sign_in("zhang.san", "a long passphrase").role == "grid_worker"
    code, out, _ = run(["users", "list"], capsys)
    assert "zhang.san" in out and "(whole district)" in out
    assert run(["users", "disable", "zhang.san"], capsys)[0] == 0
    code, _, err = run(["users", "token", "zhang.san"], capsys)
    assert code == 2 and "disabled" in err
    assert run(["users", "enable", "zhang.san"], capsys)[0] == 0
    assert open_store(store_url).accounts.principal_of_token(token).name == "zhang.san"
    code, out, _ = run(["users", "tokens"], capsys)
    assert "zhang.san" in out and token not in out  # never shown again
    assert run(["users", "revoke", "1"], capsys)[0] == 0


@pytest.mark.parametrize("argv, message", [
    (["users", "add", "x1", "--role", "mayor"], "role: 'mayor' is not one of"),
    (["users", "add", "x2", "--role", "viewer", "--scope", "999"], "grid '999' does not exist"),
    (["users", "add", "a b", "--role", "viewer"], "is not a login name"),
    (["users", "token", "nobody"], "user 'nobody' does not exist"),
    (["users", "token", "li.si", "--days", "0"], "days: a whole number"),
])  # fmt: skip
def test_bad_account_commands_change_nothing(store_url, capsys, argv, message):
    assert run(["users", "add", "li.si", "--role", "viewer"], capsys)[0] == 0
    before = open_store(store_url).audit.events()
    code, _, err = run(argv, capsys)
    assert code == 2 and message in err
    assert open_store(store_url).audit.events() == before


def test_the_audit_trail_names_the_operator_and_filters(store_url, capsys):
    run(["users", "add", "li.si", "--role", "viewer"], capsys)
    run(["users", "disable", "li.si"], capsys)
    _, out, _ = run(["audit", "--json"], capsys)
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["action"] for e in events] == ["user.disable", "user.create"]
    assert {e["principal"] for e in events} == {f"cli:{getpass.getuser()}"}
    _, out, _ = run(["audit", "--action", "user.create", "--object", "user:li.si"], capsys)
    assert out.count("\n") == 1 and "user.create" in out


def test_an_empty_scope_is_refused_not_read_as_the_whole_district(store_url, capsys):
    with pytest.raises(SystemExit) as refused:  # argparse: "expected at least one argument"
        main(["users", "add", "w1", "--role", "grid_worker", "--scope"])
    assert refused.value.code == 2 and "--scope" in capsys.readouterr().err
    assert open_store(store_url).accounts.users() == []
