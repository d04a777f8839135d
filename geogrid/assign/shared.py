"""One point index for many processes: built once, saved as numpy files, memory-mapped by each.

A server runs several worker processes, and each used to build its own
:class:`~geogrid.assign.assigner.Assigner` (hundreds of MB on a city). Here the
index of a set of boundaries is saved once into ``folder/<fingerprint>/`` as
plain ``.npy`` files, and every process maps those files read-only
(``np.load(mmap_mode="r")``): the operating system keeps one copy in its page
cache, shared by them all, and a process that starts later maps it in
milliseconds instead of building it.

The fingerprint is a hash of the boundaries themselves (level keys and
coverage, codes, parents, geometries), of :data:`INDEX_FORMAT` and of the code
that builds an index, so two stores, two servers or two generations with the
same boundaries share one index, and boundaries that differ (or an upgraded
build) never meet a stale one. Boundaries are never edited in
place (a change is a new generation), so a saved index never goes out of date.

Whoever first needs an index that is not there builds it, under a lock that
makes the others wait, and publishes it by renaming a finished folder into
place: a reader sees a whole index or none. What stays in each process is only
what cannot be shared: the polygons themselves (for the exact tests at edges).

Examples
--------
>>> import tempfile
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> grids = {"grid": gpd.GeoDataFrame({"code": ["1", "2"], "parent": [None, None]},
...                                   geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)])}
>>> levels = [Level("grid", "网格", "", "code")]
>>> with tempfile.TemporaryDirectory() as folder:
...     assigner = shared_assigner(levels, grids, folder)  # built, saved, mapped
...     again = shared_assigner(levels, grids, folder)  # mapped
...     published(levels, grids, folder), again.lookup(1.5, 0.5)["codes"]
(True, {'grid': '2'})
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import numpy as np
import shapely

from geogrid.assign.assigner import Assigner
from geogrid.errors import ConfigError
from geogrid.models import Level

#: Bump when what is saved, or how it is built, changes: old indexes are then never read.
INDEX_FORMAT = 2
#: Arrays smaller than this are read into memory; mapping them would cost more than it saves.
MAP_FROM_BYTES = 1 << 16
#: The modules whose code decides what an index holds: hashed into the fingerprint.
_BUILD_SOURCES = ("locate.py", "nearest.py", "assigner.py", "shared.py")
#: What loading a missing, damaged or half-deleted index raises.
_DAMAGED = (KeyError, ValueError, OSError)
#: Folders already warned about in this process.
_WARNED: set[Path] = set()

log = logging.getLogger(__name__)


def shared_assigner(levels: Sequence[Level], grids: Mapping, folder: str | Path) -> Assigner:
    """The assigner of these grids, mapped from ``folder``; built and saved there first if need be.

    ``levels`` top first, ``grids`` per level key as for
    :class:`~geogrid.assign.assigner.Assigner`. The answers are exactly those of an
    assigner built here (the same arrays, read back). If the folder cannot be
    written or read (a full disk, a read-only folder), the assigner is built in
    this process instead, with a warning: sharing saves memory, it must not stop
    the lookups. A folder another account owns is refused (:class:`ConfigError`).

    Examples
    --------
    >>> import tempfile
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> grids = {"grid": gpd.GeoDataFrame({"code": ["1"], "parent": [None]},
    ...                                   geometry=[box(0, 0, 1, 1)])}
    >>> levels = [Level("grid", "网格", "", "code")]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     shared_assigner(levels, grids, folder).lookup(0.5, 0.5)["codes"]
    {'grid': '1'}
    """
    try:
        target = _own_folder(folder) / fingerprint(levels, grids)
        return _mapped(levels, grids, target)
    except OSError as error:
        _warn_once(Path(folder), error)
        return Assigner(levels, grids)


def _mapped(levels: Sequence[Level], grids: Mapping, target: Path) -> Assigner:
    """The assigner mapped from ``target``; built (again) first if missing or damaged."""
    try:
        return Assigner.from_arrays(levels, grids, _load(target))
    except _DAMAGED:
        pass  # missing, or a temp-folder cleaner took some files: build it under the lock
    with _locked(target.with_suffix(".lock")):
        # Whoever held the lock before us may have just (re)built it: use theirs.
        try:
            return Assigner.from_arrays(levels, grids, _load(target))
        except _DAMAGED:
            # Still damaged: processes mapping the old files keep them until they let go.
            shutil.rmtree(target, ignore_errors=True)
            _publish(Assigner(levels, grids).to_arrays(), target)
        return Assigner.from_arrays(levels, grids, _load(target))


def publish(
    assigner: Assigner, levels: Sequence[Level], grids: Mapping, folder: str | Path
) -> Path:
    """Save an assigner built here for these grids into ``folder`` (unless one is there).

    For a process that had to build one anyway: the others then map it.
    Returns the index's folder.
    """
    target = _own_folder(folder) / fingerprint(levels, grids)
    with _locked(target.with_suffix(".lock")):
        if not target.is_dir():
            _publish(assigner.to_arrays(), target)
    return target


def published(levels: Sequence[Level], grids: Mapping, folder: str | Path) -> bool:
    """Whether ``folder`` holds the index of these grids already."""
    return (Path(folder) / fingerprint(levels, grids)).is_dir()


def fingerprint(levels: Sequence[Level], grids: Mapping) -> str:
    """A hash of the boundaries (and of :data:`INDEX_FORMAT` and the build's code): the folder name.

    Rows are taken in code order, so the order a store returns them in does not matter.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> grid = gpd.GeoDataFrame({"code": ["2", "1"], "parent": [None, None]},
    ...                         geometry=[box(1, 0, 2, 1), box(0, 0, 1, 1)])
    >>> level = [Level("grid", "网格", "", "code")]
    >>> fingerprint(level, {"grid": grid}) == fingerprint(level, {"grid": grid.iloc[::-1]})
    True
    >>> len(fingerprint(level, {"grid": grid}))
    32
    """
    digest = hashlib.blake2b(f"geogrid index {INDEX_FORMAT}".encode(), digest_size=16)
    digest.update(_build_code())
    for level in levels:
        frame = grids[level.key]
        codes = frame["code"].to_numpy().astype(str)
        order = np.argsort(codes, kind="stable")
        parents = frame["parent"].to_numpy()[order] if "parent" in frame.columns else []
        digest.update(f"\n{level.key}\t{level.coverage}\t{len(codes)}\n".encode())
        digest.update("\t".join(codes[order]).encode())
        digest.update("\t".join(p if isinstance(p, str) else "" for p in parents).encode())
        wkbs = shapely.to_wkb(frame.geometry.to_numpy()[order])
        digest.update(b"".join(w or b"" for w in wkbs))
    return digest.hexdigest()


@cache
def _build_code() -> bytes:
    """A hash of the code that builds and reads an index: a changed build never reads an old one.

    :data:`INDEX_FORMAT` is bumped by hand; this catches an upgrade that forgot to.
    """
    digest = hashlib.blake2b(digest_size=16)
    for name in _BUILD_SOURCES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.digest()


def _warn_once(folder: Path, error: OSError) -> None:
    # Every request of a worker may meet the same full disk: say it once per folder.
    if folder not in _WARNED:
        _WARNED.add(folder)
        log.warning("point index folder %s unusable (%s): building the index in memory",
                    folder, error)  # fmt: skip


def _own_folder(folder: str | Path) -> Path:
    """``folder``, private to this account (0700); refused if another account owns it.

    The default folder is in the shared temporary directory, where anyone could
    make it first and plant an index that sends reports to the wrong grids.

    Examples
    --------
    >>> import tempfile
    >>> _own_folder(Path(tempfile.mkdtemp()) / "index").stat().st_mode & 0o777 == 0o700
    True
    """
    path = Path(folder)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = path.stat()
    if status.st_uid != os.getuid():
        raise ConfigError(
            f"index folder {path}: owned by user id {status.st_uid}, not by this account "
            f"({os.getuid()}); set GEOGRID_INDEX_FOLDER to a folder of its own"
        )
    if status.st_mode & 0o077:
        # Made earlier, or by hand, with the umask's mode: others could plant files in it.
        # Only their bits go; a folder made read-only on purpose stays read-only.
        os.chmod(path, status.st_mode & 0o700)
    return path


def _publish(arrays: Mapping[str, np.ndarray], target: Path) -> None:
    """Write every array into a fresh folder beside ``target``, then rename it into place.

    Called under the lock, so any other partial folder of this index is left over
    by a process that died or failed while writing it: removed. If writing fails
    (a full disk), nothing half-written is left behind.
    """
    for stale in target.parent.glob(f".{target.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        partial.mkdir(parents=True)
        for name, value in arrays.items():
            np.save(partial / f"{name}.npy", np.ascontiguousarray(value), allow_pickle=False)
        _rename(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # gone already if renamed


def _rename(partial: Path, target: Path) -> None:
    try:
        os.rename(partial, target)  # atomic: readers see the whole index or none
    except OSError as error:
        # A process that did not take the lock published the same index first: keep it.
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise


def _load(target: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for path in target.glob("*.npy"):
        mapped = path.stat().st_size >= MAP_FROM_BYTES
        arrays[path.stem] = np.load(path, mmap_mode="r" if mapped else None, allow_pickle=False)
    return arrays


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # One builder at a time: the others wait, then map what it published.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
