"""A day's GPX files on every CPU core: read them, or read and analyse them.

A hundred workers' tracks of a day (1.7 million points, 140 MB of GPX) take a
few seconds on one core; the files are independent, so they are shared out
among forked processes, in chunks, and the results come back in the files'
order. The processes inherit the boundaries and their point index from the
caller (fork), so nothing large is sent to them.

Meant for command-line batches (``geogrid patrol import|compliance``): a fork
copies only the calling thread, so a program running other threads (a web
server) should read its few uploaded tracks with
:func:`geogrid.patrol.gpx.parse_gpx` instead.

Examples
--------
>>> read_gpx_files([])
[]
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from functools import partial
from typing import Any

import pandas as pd

from geogrid.patrol.compliance import ComplianceResult, PatrolRule, compliance_of_tracks
from geogrid.patrol.gpx import read_gpx
from geogrid.patrol.tracks import Track, TrackAnalysis, analyse_tracks

#: Fewest files worth a process of their own (starting one costs ~10 ms).
FILES_PER_PROCESS = 4
#: Chunks per process: small enough to balance the load, large enough that
#: each chunk's points are assigned to grids in one call.
CHUNKS_PER_PROCESS = 4

# What the forked processes inherit: the function a chunk is given to.
_inherited: dict[str, Callable] = {}


def read_gpx_files(
    paths: Sequence, *, crs: str = "WGS-84", worker: str | None = None, processes: int | None = None
) -> list[Track]:
    """The tracks of several GPX files, in the files' order, read on every core.

    ``processes`` defaults to the number of cores; with one, or fewer than
    :data:`FILES_PER_PROCESS` files each, the files are read in this process.
    The first bad file stops the reading with its :class:`InputError` (see
    :func:`~geogrid.patrol.gpx.read_gpx`).
    """
    read = partial(_read_chunk, crs=crs, worker=worker)
    return [track for chunk in _chunked(read, paths, processes) for track in chunk]


def analyse_gpx_files(
    paths: Sequence,
    hierarchy: Any,
    *,
    crs: str = "WGS-84",
    worker: str | None = None,
    processes: int | None = None,
    **options: Any,
) -> list[TrackAnalysis]:
    """Read and analyse the tracks of several GPX files on every core, in the files' order.

    ``options`` are those of :func:`~geogrid.patrol.tracks.analyse_tracks`. A
    bad file, or a track far from every grid, stops the batch with its
    :class:`InputError`.
    """

    def analyse(chunk: list[str]) -> list[TrackAnalysis]:
        return analyse_tracks(_read_chunk(chunk, crs=crs, worker=worker), hierarchy, **options)

    return [analysis for chunk in _chunked(analyse, paths, processes) for analysis in chunk]


def compliance_of_gpx_files(
    paths: Sequence,
    hierarchy: Any,
    *,
    level: str | None = None,
    since: date | str | None = None,
    until: date | str | None = None,
    rule: PatrolRule | None = None,
    crs: str = "WGS-84",
    processes: int | None = None,
) -> ComplianceResult:
    """一日三巡 of the grids of ``level`` from a period's GPX files, read on every core.

    The files' tracks are read and their grid visits found in one batch
    (:func:`analyse_gpx_files`); the patrols are then counted from those visits
    (:func:`~geogrid.patrol.compliance.compliance_of_tracks`), not assigned again.
    """
    level = hierarchy.chosen_level(level)
    analyses = analyse_gpx_files(paths, hierarchy, crs=crs, processes=processes, level=level)
    tracks = [analysis.track for analysis in analyses]
    visits = pd.concat([a.visits for a in analyses], ignore_index=True) if analyses else None
    return compliance_of_tracks(tracks, hierarchy, level=level, since=since, until=until,
                                rule=rule, visits=visits)  # fmt: skip


def _read_chunk(paths: list[str], *, crs: str, worker: str | None) -> list[Track]:
    return [track for path in paths for track in read_gpx(path, crs=crs, worker=worker)]


def _chunked(work: Callable[[list[str]], list], paths: Sequence, processes: int | None) -> list:
    """``work`` applied to chunks of ``paths`` in forked processes; results in order."""
    paths = [str(path) for path in paths]
    processes = min(processes or os.cpu_count() or 1, len(paths) // FILES_PER_PROCESS)
    # The boundaries and their index are ~150,000 long-lived objects. Frozen, the
    # garbage collector stops walking them at every full collection (a day's
    # files: 4.0 → 2.8 s on one core), and forked processes stop copying the
    # pages they share with this one (copy-on-write) just to walk them.
    frozen_before = gc.get_freeze_count() > 0  # a server worker freezes its own at start
    gc.freeze()
    try:
        if processes < 2:
            return [work(paths)] if paths else []
        size = -(-len(paths) // (processes * CHUNKS_PER_PROCESS))
        chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
        _inherited["work"] = work  # a closure over the boundaries: inherited, never pickled
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            try:
                return list(pool.map(_run_inherited, chunks))
            except BaseException:
                pool.shutdown(cancel_futures=True)  # the batch has failed: read no more
                raise
    finally:
        if not frozen_before:
            gc.unfreeze()
        _inherited.clear()


def _run_inherited(chunk: list[str]) -> list:
    return _inherited["work"](chunk)


__all__ = ["analyse_gpx_files", "read_gpx_files"]
