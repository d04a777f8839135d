"""Principals: who acts, as the platform has authenticated them.

A principal is a signed-in user, a machine with a token, the command line's
operator, the system itself, or an anonymous visitor. Every change the store
makes names one; the name is never one a client typed.

Examples
--------
>>> worker = Principal("zhang.san", "grid_worker", scope=("101",), display_name="张三")
>>> worker.covers(["1", "101", "10101"]), worker.covers(["2", "201"])
(True, False)
>>> worker.may("report.close")
False
>>> principal_of("cli:root").name
'cli:root'
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import dataclass, replace

from geogrid.access.roles import ROLES
from geogrid.errors import InputError


@dataclass(frozen=True, slots=True)
class Principal:
    """One authenticated actor.

    ``scope`` is a tuple of grid codes, each covering its descendants; ``None``
    means the whole district. ``via`` says how it was authenticated
    (``session``, ``token``, ``cli``, ``system`` or ``anonymous``); ``client``
    and ``request_id`` tie a change to the request that made it.
    """

    name: str
    role: str | None = None
    scope: tuple[str, ...] | None = None
    display_name: str = ""
    user_id: int | None = None
    via: str = "system"
    client: str | None = None
    request_id: str | None = None
    extra_actions: frozenset[str] = frozenset()

    @property
    def actions(self) -> frozenset[str]:
        """What this principal may do: its role's actions and any granted besides."""
        return ROLES.get(self.role or "", frozenset()) | self.extra_actions

    def may(self, action: str) -> bool:
        """Whether the principal's role allows ``action`` (scope is checked per object)."""
        return action in self.actions

    def covers(self, codes: Iterable[str | None]) -> bool:
        """Whether a place, given by its grid codes at every level, is in scope.

        A report carries its grid at each level, and a grid its chain of
        ancestors; the place is in scope when any of them is a scope code. Codes
        are compared whole, never as prefixes, so scope ``1`` does not cover ``12``.
        """
        if self.scope is None:
            return True
        return not set(self.scope).isdisjoint(c for c in codes if c)

    @property
    def signed_in(self) -> bool:
        return self.via in ("session", "token")

    def in_request(self, client: str | None, request_id: str | None) -> Principal:
        """The same principal, tied to one request (for the audit trail)."""
        return replace(self, client=client, request_id=request_id)

    def label(self) -> str:
        """How pages name the principal: display name and login name."""
        if self.display_name and self.display_name != self.name:
            return f"{self.display_name} ({self.name})"
        return self.name


#: The store's own changes (sample data, automatic set-up).
SYSTEM = Principal("system", "admin", via="system")
#: A visitor who has not signed in; what it may do is a setting of the app.
ANONYMOUS = Principal("anonymous", None, via="anonymous")


def cli_principal() -> Principal:
    """The operator of the command line: whoever may open the store may act, by OS name."""
    return Principal(f"cli:{getpass.getuser()}", "admin", via="cli")


def principal_of(actor: Principal | str) -> Principal:
    """A principal for a store call: as given, or a system principal named ``actor``.

    Library callers and the command line name themselves (``"sample"``,
    ``"cli:root"``); over HTTP the app always passes the authenticated principal.
    """
    if isinstance(actor, Principal):
        return actor
    if not isinstance(actor, str) or not actor.strip():
        raise InputError("actor: every change records who made it")
    return Principal(actor.strip(), "admin", via="cli" if actor.startswith("cli:") else "system")
