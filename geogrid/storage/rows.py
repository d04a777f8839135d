"""How the store's nouns become rows and columns, and rows become nouns and frames again.

Pure functions, no database: the :class:`~geogrid.storage.store.Store` calls them
on both sides of its :class:`~geogrid.storage.dialect.Dialect`.
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.assign import base_level
from geogrid.assign.bulk import assign_in_chunks
from geogrid.crs import normalize_crs
from geogrid.errors import GeogridError, InputError, NotFoundError
from geogrid.hierarchy import Hierarchy
from geogrid.models import Level
from geogrid.moments import check_year
from geogrid.patrol.records import Track
from geogrid.reports import NewReport, ReportQuery
from geogrid.storage.dialect import MAX_LEVELS, levels_from_json
from geogrid.workflow import OPEN_STATUSES, RECEIVED, STATUSES

CODE_COLUMNS = tuple(f"code{depth}" for depth in range(MAX_LEVELS))
#: The largest id a store can hold: both keep ids as 64-bit signed integers.
MAX_ID = 2**63 - 1


class DuplicateReportError(InputError):
    """An external id already used by a report that says something else."""


class PermissionDeniedError(GeogridError):
    """The principal's role does not allow this step."""

    # Here rather than in store.py so that the store's services (drafts) raise the same
    # class without importing the store; geogrid.storage.store re-exports it.


@dataclass(frozen=True)
class Generation:
    """One version of the whole boundary set."""

    id: int
    label: str
    created_at: datetime
    levels: tuple[Level, ...]
    grid_count: int
    active: bool
    #: Stored with its road network (or knowingly without): False only for a
    #: generation stored by a release before generations kept their roads.
    keeps_roads: bool = True
    #: The day it first became current, and the day it last stopped being current
    #: (None while current, or never yet); unknown (None) for generations stored
    #: before the store kept these dates.
    starts_on: date | None = None
    ends_on: date | None = None


@dataclass(frozen=True)
class TrackIntake:
    """What :meth:`Store.add_tracks` did with one track: its id and whether it is new."""

    id: int
    digest: str
    created: bool


@dataclass(frozen=True)
class IntakeResult:
    """What became of one report of a batch: its id, and whether it was new."""

    id: int
    external_id: str | None
    created: bool


@dataclass(frozen=True)
class Activation:
    """The outcome of activating a generation."""

    generation: Generation
    reassigned: int
    changed: int


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable: a power cut must not undo a finished backup."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def checked_report_id(value: int) -> int:
    """The id of a report that may exist: both stores keep ids as 64-bit signed integers.

    A larger id would overflow SQLite's binding (and is a numeric, not a bigint,
    to PostgreSQL); no report has it, so it is simply not found.
    """
    try:
        number = operator.index(value)  # numpy integers too
    except TypeError:
        raise NotFoundError(f"report {value!r} does not exist") from None
    if not 0 < number <= MAX_ID:
        raise NotFoundError(f"report {value} does not exist")
    return number


def aware_utc(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InputError(f"{field}: needs a time with a time zone")
    return check_year(value, field).astimezone(UTC)


@lru_cache(maxsize=64)
def crs_name(crs: str) -> str:
    name = normalize_crs(crs)
    return name if isinstance(name, str) else name.to_string()


def check_page(query: ReportQuery) -> None:
    if not (isinstance(query.limit, int) and 1 <= query.limit <= 10_000):
        raise InputError(f"limit: must be between 1 and 10000, got {query.limit!r}")
    if not (isinstance(query.offset, int) and query.offset >= 0):
        raise InputError(f"offset: must be 0 or more, got {query.offset!r}")


def checked_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InputError("bbox: needs four numbers west, south, east, north") from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InputError(
            f"bbox: ({west}, {south}, {east}, {north}) is not west ≤ east, south ≤ north in WGS-84"
        )
    return west, south, east, north


def levels_json(levels: Sequence[Level]) -> str:
    return json.dumps(
        [{"key": lv.key, "label": lv.label, "coverage": lv.coverage, "default": lv.default}
         for lv in levels],
        ensure_ascii=False,
    )  # fmt: skip


def generation_of_row(row: dict, active: int | None) -> Generation:
    raw = json.loads(row["levels"]) if isinstance(row["levels"], str) else row["levels"]
    return Generation(
        row["id"],
        row["label"],
        row["created_at"],
        levels_from_json(raw),
        row["grid_count"],
        row["id"] == active,
        # The release that began keeping roads also began recording the default level.
        keeps_roads=any("default" in level for level in raw),
        starts_on=row.get("starts_on"),
        ends_on=row.get("ends_on"),
    )


def road_rows(roads: gpd.GeoDataFrame | None) -> list[tuple]:
    """(position, name, kind, line) of each road; a layer's kind is "class" or "highway"."""
    if roads is None or len(roads) == 0:
        return []
    kinds = roads["class"] if "class" in roads else roads.get("highway")
    names = roads.get("name")
    return [
        (position, text_or_none(names, position), text_or_none(kinds, position), geometry)
        for position, geometry in enumerate(roads.geometry)
        if geometry is not None and not geometry.is_empty
    ]


def text_or_none(column: pd.Series | None, position: int) -> str | None:
    value = None if column is None else column.iloc[position]
    return None if value is None or pd.isna(value) else str(value)


def grid_rows(generation_id: int, hierarchy: Hierarchy) -> list[dict]:
    rows = []
    for depth, key in enumerate(hierarchy.levels):
        grids = hierarchy.grids(key)
        extra = [c for c in grids.columns if c not in ("code", "name", "parent", "geometry")]
        attributes = grids[extra].to_dict("records") if extra else [{}] * len(grids)
        for (code, name, parent, geometry), attrs in zip(
            grids[["code", "name", "parent", "geometry"]].itertuples(index=False, name=None),
            attributes,
            strict=True,
        ):
            rows.append(
                {
                    "generation_id": generation_id,
                    "depth": depth,
                    "level": key,
                    "code": code,
                    "name": name,
                    "parent": parent,
                    "attributes": json.dumps(plain_values(attrs), ensure_ascii=False),
                    "geometry": geometry,
                }
            )
    return rows


def plain_values(values: dict) -> dict:
    """Attribute values JSON can hold: numpy scalars as Python's, NaN (a figure nobody
    gave, e.g. a surveyed column on units the survey did not list) as null.

    Examples
    --------
    >>> plain_values({"households": np.int64(40), "buildings": float("nan")})
    {'households': 40, 'buildings': None}
    """
    plain = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()}
    return {k: None if isinstance(v, float) and v != v else v for k, v in plain.items()}


def grid_frame(rows: list[dict], level: Level) -> gpd.GeoDataFrame:
    attributes = pd.DataFrame(
        [
            json.loads(r["attributes"])
            if isinstance(r["attributes"], str)
            else (r["attributes"] or {})
            for r in rows
        ]
    )
    frame = gpd.GeoDataFrame(
        {
            "code": [r["code"] for r in rows],
            "name": [r["name"] for r in rows],
            "parent": [r["parent"] for r in rows],
        },
        geometry=shapely.from_wkb([r["geometry"] for r in rows]),
        crs=4326,
    )
    return pd.concat([frame, attributes], axis=1).set_geometry("geometry")


def placement_columns(hierarchy: Hierarchy | None, lon: np.ndarray, lat: np.ndarray) -> dict:
    """Per point, as columns: the code at every depth, assignment status and distance."""
    count = len(lon)
    columns: dict[str, list] = {c: [None] * count for c in CODE_COLUMNS}
    if hierarchy is None:
        return {**columns, "assignment": ["unassigned"] * count, "distance_m": [None] * count}
    assigned = assign_in_chunks(hierarchy, lon, lat)  # the bulk path: memory bounded by a chunk
    for depth, key in enumerate(hierarchy.levels):
        codes = assigned[f"{key}_code"]
        columns[f"code{depth}"] = codes.astype(object).where(codes.notna(), None).tolist()
    distance = assigned["distance_m"]
    columns["assignment"] = assigned["status"].astype(str).tolist()
    columns["distance_m"] = distance.astype(object).where(distance.notna(), None).tolist()
    return columns


def placements(hierarchy: Hierarchy | None, lon: np.ndarray, lat: np.ndarray) -> list[dict]:
    """Per point, as rows: the code columns, assignment status and distance."""
    columns = placement_columns(hierarchy, lon, lat)
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def base_depth(hierarchy: Hierarchy | None) -> int | None:
    """Reports are handled first by the finest full level's grid (e.g. the micro-grid)."""
    if hierarchy is None:
        return None

    return base_level([hierarchy.level(key) for key in hierarchy.levels])


def codes_by_level(codes: dict, levels: Sequence[Level]) -> dict:
    return {level.key: codes.get(CODE_COLUMNS[d]) for d, level in enumerate(levels or ())}


def history_row(
    report_id, at, actor, action, from_status=None, to_status=None, note="", data=None
) -> dict:
    return {
        "report_id": report_id,
        "at": at,
        "actor": actor,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "note": note,
        "data": json.dumps(data or {}, ensure_ascii=False),
    }


def received_history(new: dict, ids: list[int], actor: str) -> dict:
    """History columns: one "received" entry per new report (where it landed is on the row).

    The actor is the principal that stored it; the reporter's contact details
    are columns of the report, never the history.
    """
    return {"report_id": ids, "at": new["received_at"], "actor": actor, "action": "received",
            "from_status": None, "to_status": RECEIVED, "note": "", "data": None}  # fmt: skip


def dedupe_batch(reports: Sequence[NewReport]) -> tuple[dict[int, NewReport], dict[int, int]]:
    """Reports to store (by first index) and, for each index, the index that stands for it."""
    first_of: dict[str, int] = {}
    unique: dict[int, NewReport] = {}
    stands_for: dict[int, int] = {}
    for i, report in enumerate(reports):
        key = report.external_id
        if key is None or key not in first_of:
            if key is not None:
                first_of[key] = i
            unique[i] = report
            stands_for[i] = i
            continue
        if reports[first_of[key]].content_key() != report.content_key():
            raise DuplicateReportError(
                f"external_id {key}: reports {first_of[key] + 1} and {i + 1} of the batch "
                "say different things"
            )
        stands_for[i] = first_of[key]
    return unique, stands_for


def not_stored_yet(batch: dict, existing: dict[str, tuple[int, str]]) -> list[bool]:
    """Which rows to store; a stored external id with other content refuses the batch."""
    keep = []
    for key, content in zip(batch["external_id"], batch["content_key"], strict=True):
        if key is not None and key in existing and existing[key][1] != content:
            raise DuplicateReportError(
                f"external_id {key}: already used by report {existing[key][0]}, "
                "which says something different"
            )
        keep.append(key is None or key not in existing)
    return keep


def subset_of(columns: dict, keep: list[bool]) -> dict:
    if all(keep):
        return columns
    return {name: [v for v, k in zip(values, keep, strict=True) if k]
            if isinstance(values, list) else values
            for name, values in columns.items()}  # fmt: skip


def intake_result(report: NewReport, stored: tuple[int, bool], first: bool) -> IntakeResult:
    report_id, created = stored
    return IntakeResult(report_id, report.external_id, created and first)


def points_frame(rows: list[tuple], levels: Sequence[Level]) -> pd.DataFrame:
    names = ["lon", "lat", "time", "received_at", "category",
             *(f"{level.key}_code" for level in levels)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=names)
    for column in ("time", "received_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    for column in names[4:]:
        frame[column] = frame[column].astype("category")
    return frame.astype({"lon": float, "lat": float})


def counts_frame(rows: list[dict]) -> pd.DataFrame:
    columns = ["code", *STATUSES, "total", "open", "overdue"]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "code" else int) for c in columns})
    frame = pd.DataFrame(rows)
    table = frame.pivot_table(index="code", columns="status", values="n", aggfunc="sum",
                              fill_value=0)  # fmt: skip
    table = table.reindex(columns=list(STATUSES), fill_value=0)
    table["total"] = table.sum(axis=1)
    table["open"] = table[list(OPEN_STATUSES)].sum(axis=1)
    table["overdue"] = frame.groupby("code")["overdue"].sum().reindex(table.index).fillna(0)
    return table.astype(int).reset_index()[columns].rename_axis(columns=None)


def track_row(track: Track) -> dict:
    """A track as the store keeps it: a line of its positions, its times as int64 ns."""
    positions = np.column_stack([track.lon, track.lat])
    if len(positions) == 1:
        positions = np.repeat(positions, 2, axis=0)  # a line needs two points
    return {
        "digest": track.digest(),
        "worker": track.worker,
        "name": track.name,
        "source": track.source,
        "started_at": track.start.floor("us").to_pydatetime(),
        "ended_at": track.end.ceil("us").to_pydatetime(),
        "points": len(track.lon),
        "times": np.asarray(track.times, "datetime64[ns]").view(np.int64).tobytes(),
        "geometry": shapely.to_wkb(shapely.linestrings(positions)),
    }


def track_of_row(row: dict) -> Track:
    positions = shapely.get_coordinates(shapely.from_wkb(bytes(row["geometry"])))
    positions = positions[: row["points"]]
    times = np.frombuffer(bytes(row["times"]), dtype=np.int64).view("datetime64[ns]")
    return Track(row["name"], row["worker"], times.copy(), positions[:, 0].copy(),
                 positions[:, 1].copy(), row["source"] or "", id=row["id"])  # fmt: skip


def frame_of_rows(rows: list[dict]) -> gpd.GeoDataFrame:
    if not rows:
        return gpd.GeoDataFrame({"id": []}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    geometry = shapely.from_wkb([r.pop("geometry") for r in rows])
    return gpd.GeoDataFrame(rows, geometry=geometry, crs=4326)
