"""Photos of reports: files in the media folder beside the store, a row each in ``media``.

A photo is checked and cleaned first (:func:`geogrid.media.prepare_photo`: type,
size, full decode, EXIF stripped, thumbnail), then its two files are written
under their content's SHA-256 (``ab/<sha256>.jpg`` and ``ab/<sha256>.thumb.jpg``),
each to a temporary file, flushed to disk and renamed into place, and only then
is its row committed, with its audit event. A row therefore never names a file
that is not on disk; a crash between the two leaves at most an unnamed file.

The same photo sent again to the same report (a phone's offline queue resending)
answers the stored record with ``created`` False: it is never stored twice. A
photo goes only to a report in the principal's scope (any other "does not
exist"), not to a closed one, and a report takes at most :data:`MAX_PER_STAGE`
photos of each stage (``report``: what the reporter saw; ``feedback``: the
handler's proof of the work).

Examples
--------
>>> import io, tempfile
>>> from PIL import Image
>>> from geogrid import Hierarchy
>>> from geogrid.reports import NewReport
>>> from geogrid.storage import open_store
>>> folder = tempfile.mkdtemp()
>>> store = open_store(f"sqlite:///{folder}/g.db")
>>> _ = store.import_generation(Hierarchy.from_manifest("data/boundaries/sample.toml"),
...                             "2026", activate=True)
>>> [intake] = store.add_reports([NewReport("city.rubbish", 120.655, 28.01)], actor="cli:root")
>>> media = Media(store.db, store.clock, f"{folder}/media")  # store.media is one
>>> buffer = io.BytesIO()
>>> Image.new("RGB", (640, 480), "green").save(buffer, "JPEG")
>>> record = media.add(intake.id, buffer.getvalue(), stage="report", actor="cli:root")
>>> record.created, record.content_type, (record.width, record.height)
(True, 'image/jpeg', (640, 480))
>>> media.add(intake.id, buffer.getvalue(), stage="report", actor="cli:root").created
False
>>> media.path_of(record, thumb=True).name == f"{record.sha256}.thumb.jpg"
True
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from geogrid.access.principals import Principal, principal_of
from geogrid.access.roles import HANDLER_ROLES
from geogrid.errors import InputError, NotFoundError
from geogrid.media import MAX_BYTES, MAX_PIXELS, Photo, prepare_photo
from geogrid.storage.audit import audit_row, insert_events
from geogrid.storage.loop import LoopConflictError
from geogrid.storage.rows import (
    CODE_COLUMNS,
    PermissionDeniedError,
    checked_report_id,
    sync_folder,
)
from geogrid.workflow import CLOSED

#: A photo's stage, and the actions that may add one (any of them).
STAGE_ACTIONS: dict[str, tuple[str, ...]] = {
    "report": ("report.create", "ticket"),
    "feedback": ("report.feedback",),
}
STAGES = tuple(STAGE_ACTIONS)
#: The most photos one report takes of each stage (what a phone page sends at most).
MAX_PER_STAGE = 6
MAX_ORIGINAL_NAME = 200
COLUMNS = ("id", "report_id", "stage", "sha256", "content_type", "bytes", "width", "height",
           "path", "thumb_path", "original_name", "created_at", "actor")  # fmt: skip
#: The media folder and its subfolders: photos of people's doors and faces are personal data.
FOLDER_MODE = 0o700

Actor = Principal | str


class MediaConflictError(LoopConflictError):
    """The report takes no more photos: it is closed, or has the most one stage takes."""


@dataclass(frozen=True)
class MediaRecord:
    """One stored photo; ``path`` and ``thumb_path`` are relative to the media folder.

    ``created`` is True only on the record :meth:`Media.add` has just stored.
    """

    id: int
    report_id: int
    stage: str
    sha256: str
    content_type: str
    bytes: int
    width: int
    height: int
    path: str
    thumb_path: str
    original_name: str | None
    created_at: datetime
    actor: str
    created: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (the time as ISO 8601), without ``created``.

        Examples
        --------
        >>> from datetime import UTC, datetime
        >>> record = MediaRecord(1, 5, "report", "ab" * 32, "image/jpeg", 1234, 640, 480,
        ...                      "ab/x.jpg", "ab/x.thumb.jpg", "IMG_1.jpg",
        ...                      datetime(2026, 11, 23, tzinfo=UTC), "zhang.san")
        >>> record.to_dict()["created_at"], "created" in record.to_dict()
        ('2026-11-23T00:00:00+00:00', False)
        """
        values = asdict(self)
        del values["created"]
        values["created_at"] = self.created_at.isoformat()
        return values


def default_folder(db) -> Path:
    """Where a store keeps its photos when not told: beside a SQLite file, else ``instance/media``.

    Examples
    --------
    >>> from geogrid.storage.sqlite import SqliteDialect
    >>> default_folder(SqliteDialect(Path("/srv/geogrid/g.db")))
    PosixPath('/srv/geogrid/media')
    """
    path = getattr(db, "path", None)
    return Path(path).parent / "media" if path is not None else Path("instance/media")


class Media:
    """The photos of a store's reports; reached as ``store.media``.

    ``folder`` is the media folder (default: :func:`default_folder`); it is made
    on the first photo, readable by its owner only. ``max_bytes`` and
    ``max_pixels`` are the limits :meth:`add` applies unless told others.
    """

    def __init__(self, db, clock, folder: str | Path | None = None, *,
                 max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> None:  # fmt: skip
        self.db = db
        self.clock = clock
        self.folder = Path(folder) if folder is not None else default_folder(db)
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels

    # --- adding ------------------------------------------------------------------------

    def add(
        self, report_id: int, data: bytes, *, stage: str, actor: Actor,
        original_name: str | None = None, content_type: str | None = None,
        max_bytes: int | None = None, max_pixels: int | None = None,
    ) -> MediaRecord:  # fmt: skip
        """Check, clean and store a photo of a report; the stored record.

        Refused, storing nothing: a report that does not exist or is out of the
        principal's scope (:class:`NotFoundError`), a principal whose role may not
        add photos of ``stage``, or a department or grid worker adding feedback
        photos to a report not dispatched to them (:class:`PermissionDeniedError`),
        a photo that is not one (:class:`geogrid.media.PhotoRefusedError`), a
        closed report or one with :data:`MAX_PER_STAGE` photos of the stage
        already (:class:`MediaConflictError`). The same photo again: the stored
        record, ``created`` False, whatever the report's state now.
        """
        who, stage = principal_of(actor), check_stage(stage)
        if not any(who.may(action) for action in STAGE_ACTIONS[stage]):
            raise PermissionDeniedError(f"{who.name} ({who.role}) may not add {stage} photos "
                                        f"({' or '.join(STAGE_ACTIONS[stage])})")  # fmt: skip
        report_id = checked_report_id(report_id)
        with self.db.transaction(write=False) as tx:
            self._checked_report(tx, report_id, who, stage)  # before the costly decoding
        photo = prepare_photo(
            data, content_type=content_type, original_name=original_name,
            max_bytes=self.max_bytes if max_bytes is None else max_bytes,
            max_pixels=self.max_pixels if max_pixels is None else max_pixels,
        )  # fmt: skip
        return self._store(report_id, photo, stage, who, clean_name(original_name))

    def _store(self, report_id, photo: Photo, stage, who: Principal, name) -> MediaRecord:
        """The row and files of a checked photo, under the report's lock (the checks again)."""
        now = self.clock()
        with self.db.transaction() as tx:
            row = self._checked_report(tx, report_id, who, stage, lock=True)
            stored = self._rows(tx, "report_id = ? AND sha256 = ?", [report_id, photo.sha256])
            if stored:
                return stored[0]
            self._check_room(tx, report_id, row["status"], stage)
            path, thumb_path = photo.paths
            # The files are durable before the row commits: a row never names a missing file.
            self._write(path, photo.data)
            self._write(thumb_path, photo.thumb)
            (media_id,) = self.db.allocate_ids(tx, "media", 1)
            record = MediaRecord(media_id, report_id, stage, photo.sha256, photo.content_type,
                                 len(photo.data), photo.width, photo.height, path, thumb_path,
                                 name, now, who.name, created=True)  # fmt: skip
            self._insert(tx, record)
            insert_events(self.db, tx, [audit_row(who, now, "media.create", "media", media_id,
                after={"report": report_id, "stage": stage, "sha256": photo.sha256,
                       "bytes": len(photo.data)})])  # fmt: skip
        return record

    def _checked_report(self, tx, report_id: int, who: Principal, stage: str,
                        lock: bool = False) -> dict:  # fmt: skip
        suffix = self.db.lock_for_update if lock else ""
        rows = self.db.rows(tx, f"SELECT id, status, assignee, {', '.join(CODE_COLUMNS)} "
                                f"FROM reports WHERE id = ?{suffix}", [report_id])  # fmt: skip
        if not rows or not who.covers(rows[0][c] for c in CODE_COLUMNS):
            raise NotFoundError(f"report {report_id} does not exist")
        row = rows[0]
        if stage == "feedback" and who.role in HANDLER_ROLES and row["assignee"] != who.name:
            raise PermissionDeniedError(
                f"report {report_id} is dispatched to {row['assignee'] or 'no one'}, not to "
                f"{who.name}: only its assignee adds feedback photos"
            )
        return row

    def _check_room(self, tx, report_id: int, status: str, stage: str) -> None:
        if status == CLOSED:
            raise MediaConflictError(f"photo: report {report_id} is closed (结案); it takes no "
                                     "more photos")  # fmt: skip
        (count,) = self.db.rows(tx, "SELECT COUNT(*) AS n FROM media WHERE report_id = ? "
                                    "AND stage = ?", [report_id, stage])  # fmt: skip
        if count["n"] >= MAX_PER_STAGE:
            raise MediaConflictError(f"photo: report {report_id} has {count['n']} {stage} "
                                     f"photos already, the most it takes")  # fmt: skip

    def _insert(self, tx, record: MediaRecord) -> None:
        values = [getattr(record, c) for c in COLUMNS]
        values[COLUMNS.index("created_at")] = self.db.encode_time(record.created_at)
        self.db.execute(tx, f"INSERT INTO media ({', '.join(COLUMNS)}) VALUES "
                            f"({', '.join('?' * len(COLUMNS))})", values)  # fmt: skip

    def _write(self, relative: str, data: bytes) -> None:
        """Write one file durably: a temporary file, fsync, rename, fsync of the folder.

        A file of that name holds these bytes already (names are their SHA-256), so
        one that exists is kept as it is.
        """
        target = self.path_of_relative(relative)
        if target.exists():
            return
        self._make_folder(target.parent)
        handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                           dir=target.parent)  # fmt: skip
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
        sync_folder(target.parent)

    def _make_folder(self, folder: Path) -> None:
        if folder.is_dir():
            return
        created = not self.folder.is_dir()
        folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        sync_folder(folder.parent)
        if created and self.folder.parent.is_dir():
            sync_folder(self.folder.parent)

    # --- reading -----------------------------------------------------------------------

    def get(self, media_id: int) -> MediaRecord:
        """One stored photo; :class:`NotFoundError` if there is none with that id.

        The caller checks that the reader may see its report (scope).
        """
        try:
            media_id = checked_report_id(media_id)  # the same 64-bit id range
        except NotFoundError:
            raise NotFoundError(f"media {media_id!r} does not exist") from None
        with self.db.transaction(write=False) as tx:
            found = self._rows(tx, "id = ?", [media_id])
        if not found:
            raise NotFoundError(f"media {media_id} does not exist")
        return found[0]

    def of_report(self, report_id: int) -> list[MediaRecord]:
        """A report's photos, in the order they were added."""
        return self.of_reports([report_id]).get(report_id, [])

    def of_reports(self, report_ids: Iterable[int]) -> dict[int, list[MediaRecord]]:
        """The photos of many reports at once (for listings): report id → its photos."""
        ids = sorted({checked_report_id(i) for i in report_ids})
        found: dict[int, list[MediaRecord]] = {}
        with self.db.transaction(write=False) as tx:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                where = f"report_id IN ({', '.join('?' * len(chunk))})"
                for record in self._rows(tx, where, chunk):
                    found.setdefault(record.report_id, []).append(record)
        return found

    def path_of(self, record: MediaRecord, thumb: bool = False) -> Path:
        """The file of a stored photo (or of its thumbnail)."""
        return self.path_of_relative(record.thumb_path if thumb else record.path)

    def path_of_relative(self, relative: str) -> Path:
        """A path inside the media folder; one that would leave it is refused."""
        parts = PurePosixPath(relative).parts
        if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
            raise InputError(f"media path {relative!r}: must stay inside the media folder")
        return self.folder.joinpath(*parts)

    def _rows(self, tx, where: str, params: Sequence) -> list[MediaRecord]:
        rows = self.db.rows(tx, f"SELECT {', '.join(COLUMNS)} FROM media WHERE {where} "
                                "ORDER BY report_id, id", params)  # fmt: skip
        return [self._record(row) for row in rows]

    def _record(self, row: dict) -> MediaRecord:
        return replace(MediaRecord(**row), created_at=self.db.decode_time(row["created_at"]))


def check_stage(stage: Any) -> str:
    """``stage`` if it is one of :data:`STAGES`, else an error naming the field.

    Examples
    --------
    >>> check_stage("feedback")
    'feedback'
    >>> check_stage("after")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: stage: must be report or feedback, got 'after'
    """
    if stage not in STAGES:
        raise InputError(f"stage: must be {' or '.join(STAGES)}, got {stage!r}")
    return stage


def clean_name(name: Any) -> str | None:
    """A client's file name as it may be kept: its last part, printable, at most 200 characters.

    Examples
    --------
    >>> clean_name("C:\\\\Users\\\\li\\\\IMG_0001.JPG"), clean_name("../../etc/passwd\\x00")
    ('IMG_0001.JPG', 'passwd')
    >>> clean_name("   ") is None
    True
    """
    if not isinstance(name, str):
        return None
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(ch for ch in last if unicodedata.category(ch)[0] != "C").strip()
    return printable[:MAX_ORIGINAL_NAME] or None
