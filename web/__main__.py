"""Serve the app with Granian, a production server: ``python -m web``.

The main process prepares the store (the manifest's boundaries on first start,
the sample reports when asked) and closes it; then Granian starts
``GEOGRID_WORKERS`` worker processes (default: one per CPU core), each loading
:mod:`web.wsgi` with its own store connections and point index, and restarts a
worker that dies. Several processes, not threads, because a lookup is Python
work that holds the interpreter lock.
"""

from __future__ import annotations

import os

from granian import Granian
from granian.constants import Interfaces

from geogrid.reports import ReportQuery
from geogrid.sample import sample_reports
from web import create_app
from web.state import hierarchy, now, store

#: Reports generated into an empty store when GEOGRID_SAMPLE_REPORTS is on.
SAMPLE_COUNT = 20_000
#: Seconds a worker has to finish its requests and stop before it is killed.
WORKER_STOP_S = 10


def main() -> None:
    """Set up the store (boundaries, sample reports if asked), then serve."""
    app = create_app()
    with app.app_context():
        name = store().active_generation().label
        if app.config["SAMPLE_REPORTS"] and store().find_reports(ReportQuery(limit=1)).total == 0:
            print(f"geogrid: storing {SAMPLE_COUNT:,} sample reports …", flush=True)
            reports = sample_reports(hierarchy(), SAMPLE_COUNT, end=now())
            for start in range(0, SAMPLE_COUNT, 5000):
                store().add_reports(reports[start : start + 5000], actor="sample")
            store().optimize()
        store().close()  # the workers open their own; a connection must not cross a fork
    host, port = app.config["HOST"], app.config["PORT"]
    workers = app.config["WORKERS"] or os.cpu_count() or 1
    print(f"geogrid: serving {name} on http://{host}:{port}/ "
          f"({workers} workers)", flush=True)  # fmt: skip
    Granian(
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
