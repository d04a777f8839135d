"""Two lanes in each worker process, so that a cheap request never waits behind a costly one.

A worker has ``GEOGRID_THREADS`` threads. Cheap requests (a lookup, the map's
data, reports) take turns on one lane, one at a time, as with one thread:
side by side they would only wait for each other on the interpreter lock
(lookup p99 under load: 13 ms one at a time, 77 ms four at once). Costly
requests (the analysis and patrol computations, each bounded by the limits of
:mod:`web.limits`) take turns on the other lane. While one computes, the
interpreter hands its lock to a cheap request every few milliseconds, so a
lookup is answered at once instead of after the computation. A large body
(a batch of reports, a long route) takes the costly lane too, whatever the
route: reading and checking 5 MB of JSON takes seconds.

At most ``THREADS - 1`` costly requests are let in at once, running or
waiting, so a thread is always left for the cheap lane; one more is answered
503 with ``Retry-After``, as is one that waited ``COSTLY_WAIT_S`` for its turn.
Threads are cheap while they wait: the default 8 lets in the six requests a
browser sends at once (the commander's map with every layer on).
"""

from __future__ import annotations

import threading

from flask import Flask, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from geogrid.errors import GeogridError

#: Blueprints whose requests compute (analysis, patrol planning and tracks).
COSTLY_BLUEPRINTS = frozenset({"analysis", "patrol"})
#: Their endpoints that only store or list, bounded by the limits: cheap.
CHEAP_ENDPOINTS = frozenset({"patrol.routes", "patrol.create_route"})
#: Endpoints of other blueprints that compute for seconds: a redraw's proposal, impact,
#: comparison, files and publication (a paint stroke stays cheap: a few milliseconds).
COSTLY_ENDPOINTS = frozenset({"redraw.propose_draft", "redraw.impact_draft",
    "redraw.compare_draft", "redraw.export_draft", "redraw.publish_draft"})  # fmt: skip
#: A body larger than this makes a request costly (a batch of ~800 reports: ~40 ms).
CHEAP_BODY_BYTES = 65_536
#: Seconds a costly request waits for its turn before it is answered 503.
COSTLY_WAIT_S = 30
#: Seconds a client refused for a busy worker is asked to wait.
RETRY_AFTER_S = 5


class BusyError(GeogridError):
    """This worker is busy with as many costly requests as it takes (HTTP 503)."""

    retry_after_s = RETRY_AFTER_S


class Lanes:
    """The two lanes of one worker process: one for cheap requests, one for costly ones.

    Examples
    --------
    >>> lanes = Lanes(threads=2)
    >>> held = lanes.enter_costly()
    >>> lanes.enter_costly()
    Traceback (most recent call last):
    ...
    web.lanes.BusyError: busy with 1 costly request (GEOGRID_THREADS=2); try again in 5 s
    >>> lanes.leave(held)
    """

    def __init__(self, threads: int):
        self.threads = threads
        self.cheap = threading.Lock()
        self.costly = threading.Lock()
        self.seats = threading.BoundedSemaphore(max(threads - 1, 1))

    def enter_cheap(self) -> list:
        """Wait for the cheap lane; returns what :meth:`leave` releases."""
        self.cheap.acquire()
        return [self.cheap]

    def enter_costly(self) -> list:
        """Take a seat and wait for the costly lane; :class:`BusyError` if there is none."""
        if not self.seats.acquire(blocking=False):
            raise self._busy()
        if not self.costly.acquire(timeout=COSTLY_WAIT_S):
            self.seats.release()
            raise self._busy()
        return [self.seats, self.costly]

    def leave(self, held: list) -> None:
        """Release what an ``enter_…`` took, last taken first."""
        for lock in reversed(held):
            lock.release()

    def _busy(self) -> BusyError:
        seats = max(self.threads - 1, 1)
        requests = f"{seats} costly request{'s' * (seats > 1)}"
        return BusyError(
            f"busy with {requests} (GEOGRID_THREADS={self.threads}); try again in {RETRY_AFTER_S} s"
        )


def is_costly(endpoint: str | None, body_bytes: int | None = 0) -> bool:
    """Whether a request takes the costly lane, by its endpoint and its body's size.

    A body of unknown size (sent in chunks) counts as large.

    Examples
    --------
    >>> is_costly("analysis.heat_png"), is_costly("patrol.routes"), is_costly("api.lookup")
    (True, False, False)
    >>> is_costly("api.create_reports", 4_500_000), is_costly("api.create_reports", None)
    (True, True)
    """
    if body_bytes is None or body_bytes > CHEAP_BODY_BYTES:
        return True
    if endpoint is None or endpoint in CHEAP_ENDPOINTS:
        return False
    return endpoint in COSTLY_ENDPOINTS or endpoint.split(".", 1)[0] in COSTLY_BLUEPRINTS


def init_app(app: Flask) -> None:
    """Give the app its lanes: every request waits for its lane first, and leaves it last."""
    app.extensions["geogrid.lanes"] = Lanes(app.config["THREADS"])
    app.before_request(_enter)
    app.teardown_request(_leave)


def _enter() -> None:
    lanes: Lanes = current_app.extensions["geogrid.lanes"]
    size = _body_bytes()
    if size is not None and size > request.max_content_length:
        # Refused at once: a body over the limit must not wait for, or hold, a seat.
        raise RequestEntityTooLarge()
    costly = is_costly(request.endpoint, size)
    g.geogrid_lane = lanes.enter_costly() if costly else lanes.enter_cheap()


def _body_bytes() -> int | None:
    """The body's declared size: 0 without a body, None when it comes in chunks."""
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        return None
    return request.content_length or 0


def _leave(_error: BaseException | None) -> None:
    current_app.extensions["geogrid.lanes"].leave(g.pop("geogrid_lane", []))
