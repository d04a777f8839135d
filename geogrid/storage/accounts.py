"""Accounts: users with a role and a grid scope, their passwords and API tokens.

Users are never deleted, only disabled, so the names in the history and the
audit trail always refer to someone. Every change here writes its audit event
in the same transaction; a refused sign-in writes one too.

Examples
--------
>>> import tempfile
>>> from geogrid.storage import open_store
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
>>> user = store.accounts.add_user("wang.wu", "commander", password="a long passphrase",
...                                display_name="王五", actor="cli:root")
>>> store.accounts.sign_in("wang.wu", "a long passphrase").display_name
'王五'
>>> token, _ = store.accounts.issue_token("wang.wu", days=30, actor="cli:root")
>>> store.accounts.principal_of_token(token).role
'commander'
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from geogrid.access.credentials import (
    burn_time,
    hash_password,
    new_token,
    token_digest,
    verify_password,
)
from geogrid.access.principals import Principal
from geogrid.access.roles import check_role
from geogrid.errors import GeogridError, InputError, NotFoundError
from geogrid.storage.audit import audit_row, insert_events

#: A login name: letters (any script), digits, and . _ @ -; no spaces.
NAME_PATTERN = re.compile(r"[^\W][\w.@-]{1,63}")
MAX_TOKEN_DAYS = 3660
USER_COLUMNS = "id, name, display_name, role, scope, active, created_at, session_epoch"


class AuthenticationError(GeogridError):
    """A sign-in or token was refused; the message never says which part was wrong."""


class DuplicateUserError(GeogridError):
    """A user with that name exists already."""


@dataclass(frozen=True)
class User:
    """An account as stored (never its password hash)."""

    id: int
    name: str
    display_name: str
    role: str
    scope: tuple[str, ...] | None
    active: bool
    created_at: datetime

    def principal(self, via: str) -> Principal:
        return Principal(self.name, self.role, self.scope, self.display_name, self.id, via)


@dataclass(frozen=True)
class TokenInfo:
    """An issued token, as listed (the token itself is shown once, when issued)."""

    id: int
    user: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class Accounts:
    """Users and tokens in a store; reached as ``store.accounts``."""

    def __init__(self, db, clock) -> None:
        self.db = db
        self.clock = clock
        #: Seconds a valid token is trusted without asking the database again (0: never).
        #: A token revoked by another process may then work that long; in this one it
        #: stops at once.
        self.token_cache_s = 0.0
        self._checked_tokens: dict[str, tuple[float, Principal, datetime | None]] = {}

    # --- users -------------------------------------------------------------------------

    def add_user(self, name: str, role: str, scope: Sequence[str] | None = None, *,
                 display_name: str | None = None, password: str | None = None,
                 actor: Principal | str) -> User:  # fmt: skip
        """A new account; refused if the name is taken, the role unknown or a code missing."""
        name = check_user_name(name)
        check_role(role)
        scope_codes = self._checked_scope(scope)
        hashed = hash_password(password) if password is not None else None
        shown = (display_name or name).strip()[:100] or name
        now = self.clock()
        with self.db.transaction() as tx:
            if self._row(tx, name) is not None:
                raise DuplicateUserError(f"user {name!r} exists already")
            (user_id,) = self.db.allocate_ids(tx, "users", 1)
            self.db.execute(tx, "INSERT INTO users (id, name, display_name, role, scope, "
                                "password_hash, active, created_at, updated_at) VALUES "
                                "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (user_id, name, shown, role, _scope_json(scope_codes), hashed,
                             True, self.db.encode_time(now), self.db.encode_time(now)))  # fmt: skip
            insert_events(self.db, tx, [audit_row(actor, now, "user.create", "user", name, after={
                "role": role, "scope": scope_codes, "display_name": shown,
                "password": hashed is not None})])  # fmt: skip
        return self.user(name)

    def user(self, name: str) -> User:
        """One account by name; :class:`NotFoundError` if there is none."""
        with self.db.transaction(write=False) as tx:
            row = self._row(tx, name)
        if row is None:
            raise NotFoundError(f"user {name!r} does not exist")
        return self._user(row)

    def users(self) -> list[User]:
        """Every account, in the order they were added."""
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, f"SELECT {USER_COLUMNS} FROM users ORDER BY id")
        return [self._user(row) for row in rows]

    def disable_user(self, name: str, *, actor: Principal | str) -> User:
        """Disable an account: its sessions and tokens stop working at once."""
        return self._set_active(name, False, actor)

    def enable_user(self, name: str, *, actor: Principal | str) -> User:
        """Enable a disabled account again (its unexpired, unrevoked tokens work again)."""
        return self._set_active(name, True, actor)

    def _set_active(self, name: str, active: bool, actor: Principal | str) -> User:
        self._checked_tokens.clear()
        now = self.clock()
        with self.db.transaction() as tx:
            row = self._row(tx, name)
            if row is None:
                raise NotFoundError(f"user {name!r} does not exist")
            # Disabling also ends the account's page sessions (a new session epoch).
            self.db.execute(tx, "UPDATE users SET active = ?, updated_at = ?, session_epoch = "
                                "session_epoch + 1 WHERE name = ?",
                            (active, self.db.encode_time(now), name))  # fmt: skip
            insert_events(self.db, tx, [audit_row(
                actor, now, "user.enable" if active else "user.disable", "user", name,
                before={"active": bool(row["active"])}, after={"active": active})])  # fmt: skip
        return self.user(name)

    def set_password(self, name: str, password: str, *, actor: Principal | str) -> None:
        """Give an account a new password; its page sessions end (its tokens go on).

        The audit event records that it changed, never the password.
        """
        hashed = hash_password(password)
        now = self.clock()
        with self.db.transaction() as tx:
            if self._row(tx, name) is None:
                raise NotFoundError(f"user {name!r} does not exist")
            self.db.execute(
                tx,
                "UPDATE users SET password_hash = ?, updated_at = ?, "
                "session_epoch = session_epoch + 1 WHERE name = ?",
                (hashed, self.db.encode_time(now), name),
            )
            insert_events(self.db, tx, [audit_row(actor, now, "user.password", "user", name)])

    # --- signing in --------------------------------------------------------------------

    def sign_in(self, name: str, password: str, *, client: str | None = None,
                request_id: str | None = None) -> Principal:  # fmt: skip
        """The principal of a correct name and password; :class:`AuthenticationError` else.

        A refused attempt is recorded in the audit trail with the name tried.
        """
        with self.db.transaction(write=False) as tx:
            row = self._row(tx, name, password=True) if isinstance(name, str) else None
        if row is None:
            burn_time()  # an unknown name takes as long as a wrong password
            reason = "unknown user"
        elif not row["password_hash"]:
            burn_time()  # a token-only account answers as slowly as a wrong password
            reason = "no password (tokens only)"
        elif not verify_password(row["password_hash"], password):
            reason = "wrong password"
        elif not row["active"]:
            reason = "disabled"
        else:
            user = self._user(row)
            return user.principal("session").in_request(client, request_id)
        refused = Principal("anonymous", None, via="anonymous", client=client,
                            request_id=request_id)  # fmt: skip
        self._record(refused, "login.refused", "user", str(name)[:64], after={"reason": reason})
        raise AuthenticationError("wrong name or password, or the account is disabled")

    def session_id(self, who: Principal) -> str:
        """What a page session keeps to find its user again: the id and the session epoch.

        Signing out, a new password and disabling the account move the epoch on,
        so every copy of an older session cookie stops working at once.
        """
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, "SELECT session_epoch FROM users WHERE id = ?",
                                (who.user_id,))  # fmt: skip
        if not rows:
            raise NotFoundError(f"user {who.name!r} does not exist")
        return f"{who.user_id}:{rows[0]['session_epoch']}"

    def principal_of_session(self, session_id: str) -> Principal | None:
        """The principal of a page session; None if it ended or the account is gone or disabled.

        Examples
        --------
        >>> import tempfile
        >>> from geogrid.storage import open_store
        >>> accounts = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db").accounts
        >>> _ = accounts.add_user("li.si", "viewer", password="a long passphrase", actor="t")
        >>> session = accounts.session_id(accounts.sign_in("li.si", "a long passphrase"))
        >>> accounts.principal_of_session(session).name
        'li.si'
        >>> accounts.end_sessions("li.si", actor="t")
        >>> accounts.principal_of_session(session) is None
        True
        """
        user_id, _, epoch = str(session_id).partition(":")
        if not (user_id.isascii() and user_id.isdigit() and epoch.isascii() and epoch.isdigit()):
            return None
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, f"SELECT {USER_COLUMNS} FROM users WHERE id = ?",
                                (int(user_id),))  # fmt: skip
        if not rows or not rows[0]["active"] or rows[0]["session_epoch"] != int(epoch):
            return None
        return self._user(rows[0]).principal("session")

    def end_sessions(self, name: str, *, actor: Principal | str) -> None:
        """End every page session of an account (signing out ends them on every device)."""
        now = self.clock()
        with self.db.transaction() as tx:
            if self._row(tx, name) is None:
                raise NotFoundError(f"user {name!r} does not exist")
            self.db.execute(tx, "UPDATE users SET session_epoch = session_epoch + 1 "
                                "WHERE name = ?", (name,))  # fmt: skip
            insert_events(self.db, tx, [audit_row(actor, now, "user.sign_out", "user", name)])

    # --- tokens ------------------------------------------------------------------------

    def issue_token(self, name: str, *, days: int | None = 90, label: str = "",
                    actor: Principal | str) -> tuple[str, TokenInfo]:  # fmt: skip
        """A new API token for an active account: ``(token, info)``; the token is shown once.

        ``days`` is how long it is valid (None: until revoked).
        """
        if days is not None and not (isinstance(days, int) and 1 <= days <= MAX_TOKEN_DAYS):
            raise InputError(f"days: a whole number from 1 to {MAX_TOKEN_DAYS}, got {days!r}")
        token, now = new_token(), self.clock()
        expires = now + timedelta(days=days) if days else None
        with self.db.transaction() as tx:
            row = self._row(tx, name)
            if row is None:
                raise NotFoundError(f"user {name!r} does not exist")
            if not row["active"]:
                raise InputError(f"user {name!r} is disabled: enable it before issuing a token")
            (token_id,) = self.db.allocate_ids(tx, "api_tokens", 1)
            self.db.execute(tx, "INSERT INTO api_tokens (id, user_id, digest, label, created_at, "
                                "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                            (token_id, row["id"], token_digest(token), label[:100],
                             self.db.encode_time(now),
                             self.db.encode_time(expires) if expires else None))  # fmt: skip
            insert_events(self.db, tx, [audit_row(actor, now, "token.issue", "token", token_id,
                after={"user": name, "label": label[:100],
                       "expires_at": expires.isoformat() if expires else None})])  # fmt: skip
        return token, TokenInfo(token_id, name, label[:100], now, expires, None)

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        """Issued tokens (of one user, if named), oldest first; never the tokens themselves."""
        query = ("SELECT t.id, u.name AS user_name, t.label, t.created_at, t.expires_at, "
                 "t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id")  # fmt: skip
        params: list = []
        if name is not None:
            query += " WHERE u.name = ?"
            params.append(name)
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, query + " ORDER BY t.id", params)
        return [TokenInfo(r["id"], r["user_name"], r["label"], self._time(r["created_at"]),
                          self._time(r["expires_at"]), self._time(r["revoked_at"]))
                for r in rows]  # fmt: skip

    def revoke_token(self, token_id: int, *, actor: Principal | str) -> None:
        """Revoke a token at once; revoking twice is harmless."""
        now = self.clock()
        with self.db.transaction() as tx:
            rows = self.db.rows(tx, "SELECT revoked_at FROM api_tokens WHERE id = ?", (token_id,))
            if not rows:
                raise NotFoundError(f"token {token_id} does not exist")
            if rows[0]["revoked_at"] is not None:
                return
            self.db.execute(
                tx,
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ?",
                (self.db.encode_time(now), token_id),
            )
            insert_events(self.db, tx, [audit_row(actor, now, "token.revoke", "token", token_id)])
        self._checked_tokens.clear()

    def principal_of_token(self, token: str, *, client: str | None = None,
                           request_id: str | None = None) -> Principal:  # fmt: skip
        """The principal a token stands for; :class:`AuthenticationError` if it is not valid.

        Unknown, expired and revoked tokens and tokens of disabled users are all refused.
        """
        if not isinstance(token, str) or not 8 <= len(token) <= 200:
            raise AuthenticationError("the token is not valid")
        digest = token_digest(token)
        cached = self._checked_tokens.get(digest)
        if (
            cached
            and time.monotonic() < cached[0]
            and (cached[2] is None or self.clock() < cached[2])
        ):
            return cached[1].in_request(client, request_id)  # fmt: skip
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, f"SELECT u.{USER_COLUMNS.replace(', ', ', u.')}, "
                                    "t.id AS token_id, t.expires_at, t.revoked_at "
                                    "FROM api_tokens t JOIN users u ON u.id = t.user_id "
                                    "WHERE t.digest = ?", (digest,))  # fmt: skip
        if not rows:
            raise AuthenticationError("the token is not valid: unknown, expired or revoked")
        if not self._token_valid(rows[0]):
            refused = Principal("anonymous", None, via="anonymous", client=client,
                                request_id=request_id)  # fmt: skip
            self._record(
                refused,
                "token.refused",
                "token",
                rows[0]["token_id"],
                after={"user": rows[0]["name"], "reason": self._why_not(rows[0])},
            )
            raise AuthenticationError("the token is not valid: unknown, expired or revoked")
        who = self._user(rows[0]).principal("token")
        self._remember(digest, who, self._time(rows[0]["expires_at"]))
        return who.in_request(client, request_id)

    def _remember(self, digest: str, who: Principal, expires: datetime | None) -> None:
        if self.token_cache_s > 0:
            if len(self._checked_tokens) > 10_000:  # bounded: forget them all now and then
                self._checked_tokens.clear()
            self._checked_tokens[digest] = (time.monotonic() + self.token_cache_s, who, expires)

    def _why_not(self, row: dict) -> str:
        if not row["active"]:
            return "user disabled"
        return "revoked" if row["revoked_at"] is not None else "expired"

    def _token_valid(self, row: dict) -> bool:
        expires = self._time(row["expires_at"])
        return (
            bool(row["active"])
            and row["revoked_at"] is None
            and (expires is None or self.clock() < expires)
        )

    # --- shared secrets -----------------------------------------------------------------

    def shared_secret(self, name: str) -> str:
        """A random secret kept in the store, made on first use (e.g. the session key).

        Every process on one store reads the same value, so sessions signed by one
        app server are valid on the others; whoever makes it first wins.
        """
        with self.db.transaction() as tx:
            self.db.execute(tx, "INSERT INTO app_secrets (name, value) VALUES (?, ?) "
                                "ON CONFLICT (name) DO NOTHING",
                            (name, secrets.token_urlsafe(48)))  # fmt: skip
            rows = self.db.rows(tx, "SELECT value FROM app_secrets WHERE name = ?", (name,))
        return rows[0]["value"]

    # --- plumbing ----------------------------------------------------------------------

    def _row(self, tx, name: str, password: bool = False) -> dict | None:
        columns = USER_COLUMNS + (", password_hash" if password else "")
        rows = self.db.rows(tx, f"SELECT {columns} FROM users WHERE name = ?", (name,))
        return rows[0] if rows else None

    def _user(self, row: dict) -> User:
        scope = row["scope"]
        scope = json.loads(scope) if isinstance(scope, str) else scope
        return User(row["id"], row["name"], row["display_name"], row["role"],
                    None if scope is None else tuple(scope), bool(row["active"]),
                    self._time(row["created_at"]))  # fmt: skip

    def _time(self, value) -> datetime | None:
        return None if value is None else self.db.decode_time(value)

    def _checked_scope(self, scope: Sequence[str] | None) -> list[str] | None:
        if scope is None:
            return None  # the whole district
        if isinstance(scope, str) or len(scope) == 0:
            raise InputError("scope: give one or more grid codes; no scope at all (None) "
                             "is the whole district")  # fmt: skip
        codes = []
        with self.db.transaction(write=False) as tx:
            for code in scope:
                if not isinstance(code, str) or self.db.depth_of_code(tx, code) is None:
                    raise InputError(f"scope: grid {code!r} does not exist in any generation")
                codes.append(code)
        return sorted(set(codes))

    def _record(self, actor: Principal, action: str, object_type: str, object_id: str,
                **changes) -> None:  # fmt: skip
        with self.db.transaction() as tx:
            insert_events(self.db, tx, [audit_row(actor, self.clock(), action, object_type,
                                                  object_id, **changes)])  # fmt: skip


def check_user_name(name: str) -> str:
    """``name`` if it can be a login name; an error that says what one looks like.

    Examples
    --------
    >>> check_user_name("zhang.san"), check_user_name("张三")
    ('zhang.san', '张三')
    >>> check_user_name("a b")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: name: 'a b' is not a login name: 2 to 64 letters, digits, '.', '_', '@' or '-', no spaces
    """  # noqa: E501
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InputError(f"name: {name!r} is not a login name: 2 to 64 letters, digits, "
                         "'.', '_', '@' or '-', no spaces")  # fmt: skip
    return name


def _scope_json(codes: list[str] | None) -> str | None:
    return None if codes is None else json.dumps(codes)
