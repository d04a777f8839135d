"""``geogrid users …`` and ``geogrid audit``: accounts, tokens and the audit trail.

- ``users add NAME --role ROLE [--scope CODE ...] [--display-name TEXT] [--password-stdin]``
- ``users token NAME [--days N] [--label TEXT]``: prints the new token alone on stdout
- ``users list``, ``users tokens [NAME]``, ``users disable|enable NAME``,
  ``users revoke TOKEN_ID``
- ``users password NAME --password-stdin``
- ``audit [--since T] [--until T] [--principal NAME] [--action A] [--object TYPE:ID]
  [--limit N] [--json]``

Each finds the store as the other store commands do (``--store`` or ``$GEOGRID_STORE``).
The password is read from standard input, never from an argument (which every
account on the machine can list).
"""

from __future__ import annotations

import argparse
import json
import sys

from geogrid.access import ROLES
from geogrid.cli.common import operator, store_option
from geogrid.errors import InputError
from geogrid.moments import parse_moment
from geogrid.storage import open_store
from geogrid.storage.audit import AuditQuery

EXIT_OK = 0


def add_people_commands(commands) -> None:
    """Register ``users …`` and ``audit``."""
    users = commands.add_parser("users", help="accounts and API tokens")
    actions = users.add_subparsers(required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add an account")
    add.add_argument("name")
    add.add_argument("--role", required=True, help=f"one of {', '.join(ROLES)}")
    add.add_argument("--scope", nargs="+", metavar="CODE",
                     help="grid codes the account covers, with their descendants "
                          "(none: the whole district)")  # fmt: skip
    add.add_argument("--display-name", help="the name pages show (default: NAME)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read a password from standard input (else the account can only "
                          "use tokens)")  # fmt: skip
    add.set_defaults(run=_add)
    token = actions.add_parser("token", help="issue an API token (printed once)")
    token.add_argument("name")
    token.add_argument("--days", type=int, default=90, help="valid for N days (default 90)")
    token.add_argument("--label", default="", help="what the token is for")
    token.set_defaults(run=_token)
    for name, run, text in (("list", _list, "list the accounts"),
                            ("tokens", _tokens, "list issued tokens")):  # fmt: skip
        command = actions.add_parser(name, help=text)
        if name == "tokens":
            command.add_argument("name", nargs="?")
        command.set_defaults(run=run)
    for name, run, text in (
        ("disable", _disable, "disable an account and its tokens"),
        ("enable", _enable, "enable a disabled account again"),
        ("password", _password, "set a new password from stdin"),
    ):
        command = actions.add_parser(name, help=text)
        command.add_argument("name")
        if name == "password":
            command.add_argument("--password-stdin", action="store_true", required=True)
        command.set_defaults(run=run)
    revoke = actions.add_parser("revoke", help="revoke a token by its id (see users tokens)")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(run=_revoke)
    for command in actions.choices.values():
        store_option(command)
    _add_audit(commands)


def _add_audit(commands) -> None:
    audit = commands.add_parser("audit", help="list the audit trail, newest first")
    audit.add_argument("--since", help="from this time (a date is its first moment, local)")
    audit.add_argument("--until", help="before this time (a date includes that whole day)")
    audit.add_argument("--principal", help="who acted")
    audit.add_argument("--action", help="an action (report.close) or a group (report.)")
    audit.add_argument("--object", help="TYPE:ID, e.g. report:42 or user:zhang.san")
    audit.add_argument("--limit", type=int, default=100)
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    store_option(audit)
    audit.set_defaults(run=_audit)


def _read_password() -> str:
    line = sys.stdin.readline()
    if not line:
        raise InputError("password: nothing on standard input")
    return line.rstrip("\r\n")


def _add(args: argparse.Namespace) -> int:
    password = _read_password() if args.password_stdin else None
    user = open_store(args.store).accounts.add_user(
        args.name, args.role, args.scope, display_name=args.display_name, password=password,
        actor=operator(args))  # fmt: skip
    scope = ", ".join(user.scope) if user.scope else "the whole district"
    print(f"added {user.name} ({user.display_name}): {user.role}, scope {scope}")
    return EXIT_OK


def _token(args: argparse.Namespace) -> int:
    token, info = open_store(args.store).accounts.issue_token(
        args.name, days=args.days, label=args.label, actor=operator(args)
    )
    print(token)
    expires = f"{info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else "never"
    print(f"token {info.id} for {info.user}, expires {expires}; it is shown only now",
          file=sys.stderr)  # fmt: skip
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    print(f"{'name':<20} {'role':<12} {'active':<6} {'display name':<16} scope")
    for user in open_store(args.store).accounts.users():
        scope = " ".join(user.scope) if user.scope else "(whole district)"
        print(f"{user.name:<20} {user.role:<12} {'yes' if user.active else 'no':<6} "
              f"{user.display_name:<16} {scope}")  # fmt: skip
    return EXIT_OK


def _tokens(args: argparse.Namespace) -> int:
    print(f"{'id':>5}  {'user':<20} {'expires (UTC)':<17} {'revoked':<17} label")
    for t in open_store(args.store).accounts.tokens(args.name):
        expires = f"{t.expires_at:%Y-%m-%d %H:%M}" if t.expires_at else "never"
        revoked = f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "-"
        print(f"{t.id:>5}  {t.user:<20} {expires:<17} {revoked:<17} {t.label}")
    return EXIT_OK


def _disable(args: argparse.Namespace) -> int:
    user = open_store(args.store).accounts.disable_user(args.name, actor=operator(args))
    print(f"disabled {user.name}: its sessions and tokens no longer work")
    return EXIT_OK


def _enable(args: argparse.Namespace) -> int:
    user = open_store(args.store).accounts.enable_user(args.name, actor=operator(args))
    print(f"enabled {user.name}")
    return EXIT_OK


def _password(args: argparse.Namespace) -> int:
    open_store(args.store).accounts.set_password(args.name, _read_password(),
                                                 actor=operator(args))  # fmt: skip
    print(f"new password set for {args.name}")
    return EXIT_OK


def _revoke(args: argparse.Namespace) -> int:
    open_store(args.store).accounts.revoke_token(args.token_id, actor=operator(args))
    print(f"revoked token {args.token_id}")
    return EXIT_OK


def _audit(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    zone = store.calendar.zone
    object_type, _, object_id = (args.object or "").partition(":")
    query = AuditQuery(
        since=parse_moment(args.since, "since", zone) if args.since else None,
        until=parse_moment(args.until, "until", zone, whole_day=True) if args.until else None,
        principal=args.principal, action=args.action, object_type=object_type or None,
        object_id=object_id or None, limit=args.limit)  # fmt: skip
    for event in store.audit.events(query):
        if args.json:
            print(json.dumps(event.to_dict(), ensure_ascii=False))
            continue
        thing = f"{event.object_type}:{event.object_id}" if event.object_type else ""
        change = json.dumps(event.after, ensure_ascii=False) if event.after is not None else ""
        print(f"{event.at.astimezone(zone):%Y-%m-%d %H:%M:%S}  {event.principal:<16} "
              f"{event.action:<20} {thing:<22} {event.client or '':<15} {change}")  # fmt: skip
    return EXIT_OK
