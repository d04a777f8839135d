"""Notices leave the platform: each one POSTed to the office's messaging, with retries.

The store writes a notice in the transaction of the change it announces (a
dispatch, a return for rework, an escalation) and, when a sweep finds them, for
reports that became nearly overdue (预警) or overdue. :func:`deliver_pending` sends
the undelivered ones as JSON to a webhook (an enterprise WeChat or DingTalk robot
behind the office's gateway, say):

- a notice is **claimed** before it is sent (its try count moves on under a
  condition), so several workers of several servers never send one twice at once;
- a failed post (no answer, or not 2xx) is tried again later, after 30 s, 1 min,
  2 min … (doubling), until ``retries`` tries were made; the last error is kept;
- each post carries ``X-Geogrid-Notice``, the notice's unique key, so a receiver
  that saw a post whose answer was lost can tell the retry apart.

:class:`Notifier` runs a sweep and a delivery every ``interval`` seconds in a
thread of the server's worker.

Examples
--------
>>> backoff(1), backoff(3)
(datetime.timedelta(seconds=30), datetime.timedelta(seconds=120))
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

log = logging.getLogger(__name__)

#: How long a claimed notice is left to its sender before another may try it.
LEASE = timedelta(minutes=2)
TIMEOUT_S = 5.0
Post = Callable[[str, bytes, dict[str, str]], int]


@dataclass(frozen=True)
class Delivery:
    """What one round of delivery did."""

    sent: int = 0
    failed: int = 0
    given_up: int = 0


def backoff(attempt: int) -> timedelta:
    """The wait after the ``attempt``-th failed try: 30 s, doubling, at most an hour."""
    return timedelta(seconds=min(30 * 2 ** (attempt - 1), 3600))


def post_json(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url``; the HTTP status (an error status is returned, not raised)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def deliver_pending(store, url: str, *, retries: int = 5, now: datetime | None = None,
                    post: Post = post_json, batch: int = 50) -> Delivery:  # fmt: skip
    """Send the notices due now to ``url``, each claimed first; see the module's rules."""
    now = now or store.clock()
    sent = failed = given_up = 0
    for notice in _due(store, retries, now, batch):
        if not _claim(store, notice, now):
            continue  # another worker took it
        try:
            status = post(url, _body(notice), {"Content-Type": "application/json; charset=utf-8",
                                               "X-Geogrid-Notice": notice["dedupe_key"],
                                               "X-Geogrid-Event": notice["kind"]})  # fmt: skip
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except (OSError, ValueError) as exc:  # no route, refused, timed out, bad URL
            error = f"{type(exc).__name__}: {exc}"[:500]
        _settle(store, notice, now, error)
        if error is None:
            sent += 1
        elif notice["attempts"] + 1 >= retries:
            given_up += 1
            log.warning("notice %s given up after %d tries: %s", notice["dedupe_key"],
                        retries, error)  # fmt: skip
        else:
            failed += 1
    return Delivery(sent, failed, given_up)


def _due(store, retries: int, now: datetime, batch: int) -> list[dict]:
    db = store.db
    with db.transaction(write=False) as tx:
        return db.rows(tx, "SELECT id, kind, dedupe_key, payload, attempts FROM notifications "
                           "WHERE delivered_at IS NULL AND attempts < ? AND (next_attempt_at "
                           "IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?",
                       (retries, db.encode_time(now), batch))  # fmt: skip


def _claim(store, notice: dict, now: datetime) -> bool:
    db = store.db
    with db.transaction() as tx:
        return db.execute_count(tx, "UPDATE notifications SET attempts = attempts + 1, "
                                    "next_attempt_at = ? WHERE id = ? AND attempts = ? AND "
                                    "delivered_at IS NULL",
                                (db.encode_time(now + LEASE), notice["id"],
                                 notice["attempts"])) == 1  # fmt: skip


def _settle(store, notice: dict, now: datetime, error: str | None) -> None:
    db = store.db
    with db.transaction() as tx:
        if error is None:
            db.execute(tx, "UPDATE notifications SET delivered_at = ?, last_error = NULL "
                           "WHERE id = ?", (db.encode_time(now), notice["id"]))  # fmt: skip
        else:
            retry_at = now + backoff(notice["attempts"] + 1)
            db.execute(tx, "UPDATE notifications SET next_attempt_at = ?, last_error = ? "
                           "WHERE id = ?",
                       (db.encode_time(retry_at), error, notice["id"]))  # fmt: skip


def _body(notice: dict) -> bytes:
    payload = notice["payload"]
    payload = payload if isinstance(payload, dict) else json.loads(payload)
    return json.dumps({"id": notice["dedupe_key"], **payload}, ensure_ascii=False).encode()


class Notifier:
    """Every ``interval`` seconds: sweep for warnings, then deliver to the webhook (if any).

    One per server worker, in a daemon thread; the store's unique keys and claims
    make several of them safe together.
    """

    def __init__(self, store, url: str = "", *, retries: int = 5, interval: float = 60.0):
        self.store, self.url, self.retries, self.interval = store, url, retries, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Delivery:
        """One sweep and one delivery round."""
        self.store.sweep_warnings()
        return (
            deliver_pending(self.store, self.url, retries=self.retries) if self.url else Delivery()
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="geogrid-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a store briefly away must not end the thread
                log.exception("notice sweep or delivery failed; trying again next round")
