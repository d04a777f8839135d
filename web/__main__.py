"""Serve the app with Granian, a production server: ``python -m web``.

The main process prepares the store (the manifest's boundaries on first start,
the sample district's history when asked) and closes it, and has the active
generation's point index built once and saved in ``GEOGRID_INDEX_FOLDER``
(:mod:`geogrid.assign.shared`); then Granian starts ``GEOGRID_WORKERS`` worker
processes (default: one per CPU core), each loading :mod:`web.wsgi` with its own
store connections and mapping that one index, and restarts a worker that dies.
Several processes, not threads, because a lookup is Python work that holds the
interpreter lock.

A worker that keeps dying young (killed for memory, a crash in native code) is
replaced after pauses that double, up to half a minute, while the other
workers go on serving: Granian alone would stop the whole server at the
second quick death. Under systemd, ``docs/geogrid.service`` restarts the
server itself if it ever stops.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass

from granian import Granian
from granian.constants import Interfaces

from geogrid.access import ROLE_LABELS, ROLES
from geogrid.access.credentials import random_password
from geogrid.assign.shared import published
from geogrid.clock import anchored
from geogrid.hierarchy import Hierarchy
from geogrid.reports import ReportQuery
from geogrid.samplelife import load_sample_history
from web import create_app
from web.redraw import create_demo_draft
from web.settings import PREFIX
from web.state import hierarchy, now, store

#: Seconds a worker has to finish its requests and stop before it is killed.
WORKER_STOP_S = 10


@dataclass
class RespawnPauses:
    """Seconds to wait before replacing a dead worker, from how long it lived.

    A worker that served for ``steady_s`` or more is replaced at once; each one
    that dies sooner waits twice as long as the last, from ``first_s`` up to
    ``longest_s``, so a crash that comes back at every start costs a little CPU
    now and then instead of a loop of start-ups.

    Examples
    --------
    >>> pauses = RespawnPauses()
    >>> [pauses.next(lived_s=3.0) for _ in range(7)]
    [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    >>> pauses.next(lived_s=600.0)
    0.0
    """

    first_s: float = 1.0
    longest_s: float = 30.0
    steady_s: float = 60.0
    last_s: float = 0.0

    def next(self, lived_s: float) -> float:
        """The pause before replacing a worker that lived ``lived_s`` seconds."""
        young = lived_s < self.steady_s
        self.last_s = min(self.longest_s, max(self.first_s, 2 * self.last_s)) if young else 0.0
        return self.last_s


class PatientGranian(Granian):
    """Granian whose dead workers are replaced after :class:`RespawnPauses`, never given up on.

    Granian (2.x) stops every worker and exits when a worker dies within 5.5 s of
    being respawned ("Worker crash loop detected"). This hooks its respawn step,
    a private method: tests/web/test_serve.py kills young workers again and again,
    so a Granian release that changes it fails there, not in production.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pauses = RespawnPauses()

    def _respawn_workers(self, workers, spawn_target, target_loader, delay: float = 0):
        for idx in workers:
            dead = not self.wrks[idx].is_alive()  # alive: a reload or lifetime respawn
            if dead and not self._paused(idx):
                return  # told to stop during the pause; the shutdown follows
            super()._respawn_workers([idx], spawn_target, target_loader, delay)
        # Granian's crash-loop check looks for a worker respawned under 5.5 s ago:
        # with no record of one it never fires, and the pauses space the respawns.
        self.respawned_wrks.clear()

    def _paused(self, idx: int) -> bool:
        """Wait the pause before replacing worker ``idx``; False if told to stop meanwhile."""
        lived_s = time.monotonic() - self.wrks[idx].birth
        pause_s = self.pauses.next(lived_s)
        if pause_s:
            print(f"geogrid: worker-{idx + 1} died {lived_s:.1f} s after it started; "
                  f"starting another in {pause_s:.0f} s", flush=True)  # fmt: skip
        deadline = time.monotonic() + pause_s
        while time.monotonic() < deadline and not self.interrupt_signal:
            time.sleep(0.1)  # SIGTERM and SIGINT set interrupt_signal
        return not self.interrupt_signal


def demo_scopes(h: Hierarchy) -> dict[str, list[str] | None]:
    """The scope each demo account gets: a grid worker one grid, a viewer one top-level area.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> scopes = demo_scopes(h)
    >>> scopes["commander"], len(scopes["grid_worker"])
    (None, 1)
    """
    first_grid = str(h.grids(h.default_level)["code"].min())
    first_area = str(h.grids(h.levels[0])["code"].min())
    return {role: {"grid_worker": [first_grid], "viewer": [first_area]}.get(role)
            for role in ROLES}  # fmt: skip


def add_demo_accounts(accounts, h: Hierarchy) -> list[tuple[str, str, list[str] | None, str]]:
    """One account per role, each with a random password: (name, role, scope, password).

    Only for a store with no accounts yet (the caller checks): the passwords are
    shown once, by :func:`print_demo_accounts`, and kept nowhere but as hashes.
    """
    made = []
    for role, scope in demo_scopes(h).items():
        name, password = f"demo.{role}", random_password()
        accounts.add_user(name, role, scope, display_name=f"演示 {ROLE_LABELS[role][0]}",
                          password=password, actor="setup")  # fmt: skip
        made.append((name, role, scope, password))
    return made


def print_demo_accounts(made, base: str) -> None:
    """The demo accounts on the terminal, once: how to sign in and how to make real ones."""
    print("geogrid: a new store, so one demo account per role (shown this once):", flush=True)
    for name, role, scope, password in made:
        where = " ".join(scope) if scope else "whole district"
        print(f"  {name:<18} {role:<12} {password}   scope: {where}")
    print(
        f"  sign in at {base}/login; make real accounts with "
        "`geogrid users add NAME --role ROLE [--scope CODE ...] --password-stdin`, "
        "then `geogrid users disable demo.ROLE`",
        flush=True,
    )


def _first_accounts(app) -> None:
    """Demo accounts on a store set up just now; on any other store, how to make accounts.

    A store that held boundaries before (one upgraded from an earlier release, a
    city's real one) never gets accounts with printed passwords by itself.
    """
    if app.config["DEMO_ACCOUNTS"] and app.extensions.get("geogrid.new_store"):
        print_demo_accounts(add_demo_accounts(store().accounts, hierarchy()), port_of(app))
        return
    print("geogrid: the store has no accounts yet: make one with `geogrid users add NAME "
          "--role admin --password-stdin --store URL`, then sign in at "
          f"{port_of(app)}/login", flush=True)  # fmt: skip


def port_of(app) -> str:
    """The base URL the server will answer on."""
    return f"http://{app.config['HOST']}:{app.config['PORT']}"


def default_index_folder() -> str:
    """Where the server's workers share the point index unless ``GEOGRID_INDEX_FOLDER`` says.

    Examples
    --------
    >>> default_index_folder().startswith(tempfile.gettempdir())
    True
    """
    return os.path.join(tempfile.gettempdir(), f"geogrid-index-{os.getuid()}")


def publish_index(app) -> None:
    """Build the active generation's point index once, into the shared folder, before the
    workers start: they map it instead of building one each.

    It is built in a short-lived child process, so that this process (which lives
    as long as the server, beside the workers) does not keep a copy. If that fails,
    each worker builds its own, as without a shared folder.
    """
    started = time.perf_counter()
    child = multiprocessing.get_context("fork").Process(target=_build_index, args=(app,))
    child.start()
    child.join()
    if child.exitcode:
        print("geogrid: the shared point index could not be built; each worker builds its own",
              flush=True)  # fmt: skip
        return
    print(f"geogrid: point index ready in {time.perf_counter() - started:.1f} s, shared by "
          f"the workers from {app.config['INDEX_FOLDER']}", flush=True)  # fmt: skip


def _build_index(app) -> None:
    with app.app_context():
        built = hierarchy()  # prepared with the store's index folder: built and saved there
        store().close()
    # Where the folder cannot be written (a full disk) the index was built in memory,
    # with a warning: say so, rather than that it is ready to share.
    levels = [built.level(key) for key in built.levels]
    if not published(levels, {key: built.grids(key) for key in built.levels},
                     app.config["INDEX_FOLDER"]):  # fmt: skip
        raise SystemExit(1)


def main() -> None:
    """Set up the store (boundaries, sample reports if asked), then serve."""
    # Every worker builds its own app: a clock set to start at a chosen time must
    # start once, here, so that the workers (and a replaced one) read the same time.
    clock_variable = PREFIX + "CLOCK"
    os.environ[clock_variable] = anchored(os.environ.get(clock_variable, ""))
    # The workers read the same folder from the environment, as they read the clock;
    # "off": each builds its own index (to compare, or where /tmp is too small).
    folder = os.environ.get(PREFIX + "INDEX_FOLDER") or default_index_folder()
    os.environ[PREFIX + "INDEX_FOLDER"] = "" if folder == "off" else folder
    app = create_app()
    with app.app_context():
        name = store().active_generation().label
        # Demo accounts first: the sample adds its own accounts, and demo.grid_worker
        # becomes its grid's worker (that grid's reports and patrols are theirs).
        if not store().accounts.users():
            _first_accounts(app)
        if app.config["SAMPLE_REPORTS"] and store().find_reports(ReportQuery(limit=1)).total == 0:
            days = app.config["SAMPLE_HISTORY_DAYS"]
            print(f"geogrid: storing {days} days of sample life (reports along the loop, grid "
                  "workers, departments, patrol tracks) …", flush=True)  # fmt: skip
            life = load_sample_history(store(), now(), days=days)
            store().optimize()
            print(f"geogrid: stored {life.to_text()}", flush=True)
        if draft := create_demo_draft(app):
            print(f"geogrid: a redraw draft to work on: {port_of(app)}/redraw?draft={draft.id} "
                  f"({draft.name})", flush=True)  # fmt: skip
        store().close()  # the workers open their own; a connection must not cross a fork
    if app.config["INDEX_FOLDER"]:
        publish_index(app)
    host, port = app.config["HOST"], app.config["PORT"]
    workers = app.config["WORKERS"] or os.cpu_count() or 1
    print(f"geogrid: serving {name} on http://{host}:{port}/ "
          f"({workers} workers)", flush=True)  # fmt: skip
    PatientGranian(
        "web.wsgi:app",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=app.config["THREADS"],
        respawn_failed_workers=True,
        # A worker still building its index when told to stop misses the signal.
        workers_kill_timeout=WORKER_STOP_S,
    ).serve()


if __name__ == "__main__":
    main()
