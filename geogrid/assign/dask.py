"""Bulk assignment on a Dask cluster: points in partitions, one GeoParquet part per partition.

The boundaries travel to each worker once, inside a worker plugin, and each worker
builds the assignment index once, on its first partition (and keeps the indexes of
the last two boundaries it saw for the next runs on a long-lived cluster). Every partition is then
read, assigned by :func:`geogrid.assign.bulk.assign_frame` (the function the
in-process path uses too) and written as ``part-NNNNN.parquet`` in the output
folder. A part is written to a hidden temporary file and renamed into place, so a
partition recomputed after a worker is lost replaces its own part: each row ends up
in the output exactly once. A run that fails removes the parts it wrote, so that
no folder of some of the parts passes for a whole answer.

Points are read from

* a CSV file, in blocks of whole lines (values kept as text, as the in-process
  path keeps them; a quoted value must not span lines);
* a Parquet file or a folder of them, in groups of whole row groups, by named
  lon/lat columns (numbers or text) or, for GeoParquet, by its point geometry.

Each part holds the input columns as read, one ``<level>_code`` column per level,
``status``, ``distance_m``, ``nearest_code`` and a WGS-84 point ``geometry``
(GeoArrow point encoding, empty where a row has no coordinates), so that
``geopandas.read_parquet(OUT)`` or ``dask_geopandas.read_parquet(OUT)`` reads the
folder back.

Paths are read and written by the workers: with a remote scheduler, the points
and the output folder must be on storage every worker (and this client) sees.

Examples
--------
>>> plan_partitions("data/boundaries/sample.toml", PointColumns())  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
geogrid.errors.InputError: data/boundaries/sample.toml: points must be a .csv file, ...
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import pickle
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import shapely
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker, wait
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from geogrid.assign.assigner import DEFAULT_MAX_DISTANCE_M
from geogrid.assign.bulk import assign_frame
from geogrid.crs import normalize_crs, to_wgs84
from geogrid.errors import GeogridError, InputError
from geogrid.hierarchy import Hierarchy
from geogrid.models import ASSIGNMENT_OUTCOMES

#: Rows in one partition: big enough that the scheduler's few milliseconds per task
#: vanish, small enough that a worker holds a few partitions in well under 1 GB.
PARTITION_ROWS = 2_000_000
#: Seconds a failed run waits for its partitions still running to end before it removes
#: their parts (one that ends later removes its own: see :func:`_run_partition`).
STOP_WAIT_S = 60.0
PART = re.compile(r"part-\d{5}\.parquet")
_SCRATCH = re.compile(r"\.part-\d{5}\.[0-9a-f]+\.tmp")
#: A part or a scratch file, and the number of the partition it belongs to.
_NUMBERED = re.compile(
    r"(?P<scratch>\.)?part-(?P<number>\d{5})(?(scratch)\.[0-9a-f]+\.tmp|\.parquet)"
)
_CSV_SAMPLE_BYTES = 1 << 20
_ENCODINGS = ("utf-8-sig", "gb18030")
#: What reading, assigning or writing a partition raises for its data or its storage.
_PROBLEMS = (GeogridError, pa.ArrowException, UnicodeDecodeError, ValueError, OSError)
_TEXT_TYPES = (pa.types.is_string, pa.types.is_large_string)
_NUMBER_TYPES = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)


def _is_worded(kind: pa.DataType) -> bool:
    return pa.types.is_dictionary(kind) or any(check(kind) for check in _TEXT_TYPES)


def _is_coordinate_type(kind: pa.DataType) -> bool:
    return any(check(kind) for check in (*_TEXT_TYPES, *_NUMBER_TYPES))


class PartitionError(InputError):
    """A partition of the points cannot be read or assigned; the message names file and rows."""


@dataclass(frozen=True)
class PointColumns:
    """Where a partition's coordinates are: named columns, or the GeoParquet geometry."""

    lon: str = "lon"
    lat: str = "lat"
    crs: str | None = None  # None: WGS-84 for columns, the file's own for a geometry


@dataclass(frozen=True)
class Partition:
    """One task's share of the points: a byte range of a CSV or row groups of a Parquet file."""

    number: int
    path: str
    kind: str  # "csv" or "parquet"
    offset: int = 0  # csv: nominal byte range; the block holds the lines starting in it
    length: int = 0
    header: bytes = b""
    row_groups: tuple[int, ...] = ()
    lon: str = "lon"
    lat: str = "lat"
    geometry: str | None = None  # parquet: the point column when lon/lat are not columns
    crs: str | pyproj.CRS = "WGS-84"

    def describe(self) -> str:
        """The partition as the user can find it in the file.

        Examples
        --------
        >>> Partition(3, "p.csv", "csv", offset=100, length=50).describe()
        'p.csv, partition 3 (bytes 100–150)'
        """
        if self.kind == "csv":
            end = self.offset + self.length
            return f"{self.path}, partition {self.number} (bytes {self.offset}–{end})"
        groups = f"{self.row_groups[0]}–{self.row_groups[-1]}" if self.row_groups else "none"
        return f"{self.path}, partition {self.number} (row groups {groups})"


@dataclass
class AssignmentSummary:
    """What a run did: rows per status, partitions and parts written."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ASSIGNMENT_OUTCOMES, 0))
    partitions: int = 0
    index_builds: int = 0  # one per worker that took part (and per worker that replaced one)
    task_seconds: float = 0.0  # time inside the partitions' tasks, summed over workers
    cpu_seconds: float = 0.0  # processor time of the workers inside those tasks
    out: Path | None = None

    @property
    def rows(self) -> int:
        """Rows assigned in all."""
        return sum(self.counts.values())

    def add(self, done: dict) -> None:
        """Count one finished partition: its rows per status, its index build and time."""
        self.partitions += 1
        self.index_builds += int(done["built_index"])
        self.task_seconds += done["seconds"]
        self.cpu_seconds += done["cpu_seconds"]
        for status, count in done["counts"].items():
            self.counts[status] += count


# --- planning (on the client) -----------------------------------------------------------


def plan_partitions(
    points: str | Path, columns: PointColumns, partition_rows: int = PARTITION_ROWS
) -> list[Partition]:
    """Cut the points into partitions of about ``partition_rows`` rows; check the columns.

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "p.csv")
    >>> _ = open(f, "w").write("id,lon,lat\\n" + "7,120.65,28.01\\n" * 1000)
    >>> [p.offset for p in plan_partitions(f, PointColumns(), partition_rows=400)]
    [0, 6000, 12000]
    """
    if partition_rows < 1:
        raise InputError(f"partition rows: must be at least 1, got {partition_rows}")
    if columns.crs is not None:
        normalize_crs(columns.crs)  # an unknown system fails here, not in every partition
    path = Path(points)
    if path.is_dir() or path.suffix.lower() == ".parquet":
        return _plan_parquet(path, columns, partition_rows)
    if path.suffix.lower() in (".csv", ".txt"):
        return _plan_csv(path, columns, partition_rows)
    raise InputError(
        f"{path}: points must be a .csv file, a .parquet file or a folder of .parquet files"
    )


def _plan_csv(path: Path, columns: PointColumns, partition_rows: int) -> list[Partition]:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    with open(path, "rb") as file:
        sample = file.read(_CSV_SAMPLE_BYTES)
    header, _, body = sample.partition(b"\n")
    names = _decode(header + b"\n", str(path)).strip().split(",")
    _require_columns(path, names, columns)
    lines = max(body.count(b"\n"), 1)
    block = max(int(len(body) / lines * partition_rows), 1)
    size = path.stat().st_size
    return [
        Partition(
            n,
            str(path),
            "csv",
            offset=offset,
            length=block,
            header=header + b"\n",
            lon=columns.lon,
            lat=columns.lat,
            crs=columns.crs or "WGS-84",
        )
        for n, offset in enumerate(range(0, max(size, 1), block))
    ]


def _plan_parquet(path: Path, columns: PointColumns, partition_rows: int) -> list[Partition]:
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path}: no .parquet files in this folder")
    partitions: list[Partition] = []
    for file in files:
        if not file.is_file():
            raise InputError(f"{file}: file not found")
        try:
            metadata = pq.read_metadata(file)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{file}: not a readable Parquet file: {exc}") from None
        geometry, crs = _coordinate_source(file, metadata.schema.to_arrow_schema(), columns)
        for groups in _group_rows(metadata, partition_rows):
            partitions.append(
                Partition(
                    len(partitions),
                    str(file),
                    "parquet",
                    row_groups=groups,
                    lon=columns.lon,
                    lat=columns.lat,
                    geometry=geometry,
                    crs=crs,
                )
            )
    return partitions


def _group_rows(metadata: pq.FileMetaData, partition_rows: int) -> Iterator[tuple[int, ...]]:
    """Consecutive row groups up to ``partition_rows`` rows (a bigger group stays whole)."""
    groups: list[int] = []
    rows = 0
    for index in range(metadata.num_row_groups):
        size = metadata.row_group(index).num_rows
        if groups and rows + size > partition_rows:
            yield tuple(groups)
            groups, rows = [], 0
        groups.append(index)
        rows += size
    if groups or metadata.num_row_groups == 0:
        yield tuple(groups)


def _coordinate_source(
    file: Path, schema: pa.Schema, columns: PointColumns
) -> tuple[str | None, str | pyproj.CRS]:
    """Named lon/lat columns if present, else the GeoParquet primary geometry and its CRS."""
    geo = json.loads((schema.metadata or {}).get(b"geo", b"null"))
    if geo and columns.lon not in schema.names and columns.lat not in schema.names:
        name = geo.get("primary_column", "geometry")
        crs = geo.get("columns", {}).get(name, {}).get("crs", "OGC:CRS84")
        if columns.crs is None and crs is None:
            raise InputError(f"{file}: the geometry has no CRS; say which with --crs")
        return name, columns.crs or _parquet_crs(crs)
    _require_columns(file, schema.names, columns)
    for role, name in (("--lon", columns.lon), ("--lat", columns.lat)):
        kind = schema.field(name).type
        if not _is_coordinate_type(kind):
            raise InputError(
                f"{file}: column '{name}' for {role} holds {kind}, not numbers or text"
            )
    return None, columns.crs or "WGS-84"


def _parquet_crs(crs: str | dict) -> str | pyproj.CRS:
    parsed = (
        pyproj.CRS.from_user_input(crs) if isinstance(crs, str) else pyproj.CRS.from_json_dict(crs)
    )
    return "WGS-84" if parsed.equals(pyproj.CRS("OGC:CRS84"), ignore_axis_order=True) else parsed


def _require_columns(file: Path, names: Sequence[str], columns: PointColumns) -> None:
    for role, name in (("--lon", columns.lon), ("--lat", columns.lat)):
        if name not in names:
            raise InputError(
                f"{file}: no column '{name}' for {role}; columns are: {', '.join(names)}"
            )


# --- one partition (on a worker) ------------------------------------------------------------


def assign_partition(
    hierarchy: Hierarchy, partition: Partition, out: str | Path, max_distance_m: float
) -> dict[str, int]:
    """Read, assign and write one partition as ``OUT/part-NNNNN.parquet``; rows per status.

    Any problem with the partition's rows raises :class:`PartitionError` naming the
    file, the partition and the row; one writing the part (a full disk) names the part too.

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "p.csv")
    >>> _ = open(f, "w").write("id,lon,lat\\n7,120.65,28.01\\n")
    >>> sample = Hierarchy.from_manifest("data/boundaries/sample.toml").prepare()
    >>> assign_partition(sample, plan_partitions(f, PointColumns())[0], "/nowhere", 0)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.assign.dask.PartitionError: ...p.csv, partition 0 (...): cannot write /nowhere/...
    """
    try:
        table, lon, lat = read_partition(partition)
        coordinates = pd.DataFrame({"lon": lon, "lat": lat})
        assigned = assign_frame(hierarchy, coordinates, "lon", "lat", partition.crs, max_distance_m)
        wgs_lon, wgs_lat = to_wgs84(lon, lat, partition.crs)
        part = _part_table(table, assigned, wgs_lon, wgs_lat)
    except PartitionError:
        raise
    except _PROBLEMS as exc:
        raise PartitionError(f"{partition.describe()}: {exc}") from None
    target = Path(out) / part_name(partition.number)
    try:
        _write_part(part, target)
    except _PROBLEMS as exc:
        raise PartitionError(f"{partition.describe()}: cannot write {target}: {exc}") from None
    counts = assigned["status"].value_counts()
    return {status: int(counts.get(status, 0)) for status in ASSIGNMENT_OUTCOMES}


def read_partition(partition: Partition) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The partition's rows (input columns only) and their coordinates as received."""
    if partition.kind == "csv":
        table = _read_csv_block(partition)
    else:
        table = pq.ParquetFile(partition.path).read_row_groups(list(partition.row_groups))
    if partition.geometry is not None:
        lon, lat = _point_coordinates(table.column(partition.geometry), partition)
        return table.drop_columns([partition.geometry]), lon, lat
    return table, _numbers(table.column(partition.lon)), _numbers(table.column(partition.lat))


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    """Floats from a number or text column; text that is not a number becomes NaN."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
        return pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    return column.cast(pa.float64()).to_numpy(zero_copy_only=False)


def _point_coordinates(
    column: pa.ChunkedArray, partition: Partition
) -> tuple[np.ndarray, np.ndarray]:
    if pa.types.is_struct(column.type):  # GeoArrow "point" encoding: x and y as they are
        flat = column.combine_chunks()
        x, y = (flat.field(name).to_numpy(zero_copy_only=False) for name in ("x", "y"))
        missing = ~flat.is_valid().to_numpy(zero_copy_only=False)
        return np.where(missing, np.nan, x), np.where(missing, np.nan, y)
    shapes = shapely.from_wkb(column.to_numpy(zero_copy_only=False))
    kinds = shapely.get_type_id(shapes)  # 0 a point, -1 no geometry
    wrong = np.flatnonzero((kinds != 0) & (kinds != -1))
    if wrong.size:
        first = int(wrong[0])
        raise PartitionError(
            f"{partition.describe()}: row {first} of the partition holds a "
            f"{shapes[first].geom_type}, not a point"
        )
    return shapely.get_x(shapes), shapely.get_y(shapes)


def _read_csv_block(partition: Partition) -> pa.Table:
    """The lines that start inside the partition's byte range, as text columns."""
    with open(partition.path, "rb") as file:
        start = _line_start(file, partition.offset)
        stop = _line_start(file, partition.offset + partition.length)
        file.seek(start)
        block = file.read(max(stop - start, 0))
    text = block if start == 0 else partition.header + block
    try:
        rows = pd.read_csv(
            io.StringIO(_decode(text, partition.describe())), dtype=str, keep_default_na=False
        )
    except pd.errors.ParserError as exc:
        raise PartitionError(_csv_problem(partition, start, exc)) from None
    except pd.errors.EmptyDataError:
        rows = pd.DataFrame(columns=_decode(partition.header, partition.path).strip().split(","))
    schema = pa.schema([(str(name), pa.string()) for name in rows.columns])
    return pa.Table.from_pandas(rows, schema=schema, preserve_index=False)


def _line_start(file, position: int) -> int:
    """The first byte at or after ``position`` that starts a line (or the end of the file)."""
    if position <= 0:
        return 0
    file.seek(position - 1)
    while chunk := file.read(1 << 16):
        newline = chunk.find(b"\n")
        if newline >= 0:
            return file.tell() - len(chunk) + newline + 1
    return file.tell()


def _decode(data: bytes, where: str) -> str:
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise PartitionError(f"{where}: text is neither UTF-8 nor GBK")


def _csv_problem(partition: Partition, start: int, exc: Exception) -> str:
    """Name the file's own line: pandas counts lines of the block (after the header we added)."""
    found = re.search(r"line (\d+)", str(exc))
    if not found:
        return f"{partition.describe()}: not a readable CSV block: {exc}"
    line = int(found.group(1))
    if start > 0:
        line += _lines_before(partition.path, start) - 1
    problem = re.sub(r"^Error tokenizing data\. C error: ", "", str(exc)).strip()
    problem = re.sub(r" in line \d+", "", problem)
    return f"{partition.describe()}, line {line:,} of the file: {problem}"


def _lines_before(path: str, position: int) -> int:
    # Only on the error path: counting every line before a block is a full read.
    count = 0
    with open(path, "rb") as file:
        while position > 0 and (chunk := file.read(min(1 << 20, position))):
            count += chunk.count(b"\n")
            position -= len(chunk)
    return count


# --- writing one part -------------------------------------------------------------------------


def _part_table(
    rows: pa.Table, assigned: pd.DataFrame, lon: np.ndarray, lat: np.ndarray
) -> pa.Table:
    """Input columns, then the assignment columns, then a WGS-84 GeoArrow point geometry."""
    clashing = [
        name for name in rows.column_names if name in assigned.columns or name == "geometry"
    ]
    table = rows.drop_columns(clashing)
    for name in assigned.columns:
        values = assigned[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            table = table.append_column(name, _dictionary(values))
        else:
            table = table.append_column(name, pa.array(values, from_pandas=True))
    table = table.append_column("geometry", _points(lon, lat))
    return table.replace_schema_metadata({**(table.schema.metadata or {}), b"geo": _GEO})


def _dictionary(values: pd.Series) -> pa.DictionaryArray:
    """Codes as Parquet writes them fastest: the level's codes once, a small integer per row.

    Every part carries every code of the level and 32-bit indices, so the parts share
    one schema (pandas picks 8- or 16-bit codes by the number of categories).
    """
    codes = values.cat.codes.to_numpy()
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values.cat.categories, pa.string()))


def _points(lon: np.ndarray, lat: np.ndarray) -> pa.StructArray:
    usable = np.isfinite(lon) & np.isfinite(lat)
    return pa.StructArray.from_arrays(
        [pa.array(lon), pa.array(lat)], names=["x", "y"], mask=pa.array(~usable)
    )


_GEO = json.dumps(
    {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "point",
                "geometry_types": ["Point"],
                "crs": pyproj.CRS("OGC:CRS84").to_json_dict(),
            }
        },
    }
).encode()


def part_name(number: int) -> str:
    """The file name of a partition's part.

    Examples
    --------
    >>> part_name(7)
    'part-00007.parquet'
    """
    return f"part-{number:05d}.parquet"


def _write_part(table: pa.Table, target: Path) -> None:
    """Write under a private name, then rename: a recomputed partition replaces its own part."""
    scratch = target.with_name(f".{target.stem}.{uuid.uuid4().hex}.tmp")
    # Dictionary pages for codes and text only: trying them on coordinates (every value
    # different) costs a quarter of the writing for nothing.
    worded = [f.name for f in table.schema if _is_worded(f.type)]
    try:
        pq.write_table(table, scratch, use_dictionary=worded)
        os.replace(scratch, target)
    except BaseException:
        scratch.unlink(missing_ok=True)  # half a file on a full disk helps nobody
        raise


def prepare_output(out: str | Path) -> Path:
    """Create the output folder, or empty one an earlier run wrote; refuse anything else.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> prepare_output(folder).is_dir()
    True
    >>> _ = (folder / "notes.txt").write_text("mine")
    >>> prepare_output(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: ...out: holds files an assignment did not write (notes.txt); ...
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(
            f"{out}: exists and is not a folder; the Dask engine writes a folder of parts"
        )
    entries = list(out.iterdir()) if out.exists() else []
    foreign = [
        e.name for e in entries if not (PART.fullmatch(e.name) or _SCRATCH.fullmatch(e.name))
    ]
    if foreign:
        listed = ", ".join(sorted(foreign)[:5])
        raise InputError(
            f"{out}: holds files an assignment did not write ({listed}); give a new or empty folder"
        )
    for entry in entries:
        entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def _remove_files(out: Path, numbers: set[int], parts: bool) -> None:
    """Remove the scratch files of the partitions ``numbers`` and, if ``parts``, their parts.

    Only files named for this run's partitions go: anything else in the folder stays.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("part-00001.parquet", ".part-00001.ab.tmp", "part-00009.parquet", "x"):
    ...     _ = (folder / name).write_text("")
    >>> _remove_files(folder, {1}, parts=True)
    >>> sorted(p.name for p in folder.iterdir())
    ['part-00009.parquet', 'x']
    """
    for entry in out.iterdir():
        found = _NUMBERED.fullmatch(entry.name)
        if not found or int(found.group("number")) not in numbers:
            continue
        if parts or found.group("scratch"):
            entry.unlink(missing_ok=True)


# --- the workers' boundaries ------------------------------------------------------------------


#: On a worker: the last boundaries it indexed, by fingerprint, the latest used last.
#: Kept after a run, so that the next run on the same boundaries (a long-lived cluster)
#: skips the build; two, so that two runs on other boundaries at once do not rebuild
#: on every partition, each evicting the other's index; no more, as each costs memory.
_INDEXED: OrderedDict[str, Hierarchy] = OrderedDict()
_INDEXES_KEPT = 2
_INDEXING = threading.Lock()


class BoundariesPlugin(WorkerPlugin):
    """Carries the boundaries to every worker (those that join later too); indexes them once.

    The index is built on a worker's first partition, not in :meth:`setup`, which runs
    on the worker's event loop: a build of seconds there would stall its heartbeats.
    """

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.hierarchy = hierarchy
        # The content, not the object: equal boundaries loaded twice share an index.
        self.fingerprint = hashlib.sha256(pickle.dumps(hierarchy)).hexdigest()

    def prepared(self) -> tuple[Hierarchy, bool]:
        """The hierarchy with its index, and whether this call built it (the first one does).

        Examples
        --------
        >>> plugin = BoundariesPlugin(Hierarchy.from_manifest("data/boundaries/sample.toml"))
        >>> [plugin.prepared()[1] for _ in range(2)]
        [True, False]
        """
        with _INDEXING:  # threads of one worker share one index
            indexed = _INDEXED.get(self.fingerprint)
            if indexed is not None:
                _INDEXED.move_to_end(self.fingerprint)
                return indexed, False
            while len(_INDEXED) >= _INDEXES_KEPT:  # the oldest goes before the new one is built
                _INDEXED.popitem(last=False)
            indexed = _INDEXED[self.fingerprint] = self.hierarchy.prepare()
            return indexed, True


def _run_partition(plugin: str, partition: Partition, out: str, max_distance_m: float) -> dict:
    """Assign one partition, if its run still goes on: the run's plugin is its sign of life.

    A failed run unregisters its plugin before it removes its parts; a task that
    finds the plugin gone when it starts writes nothing, and one that finds it gone
    after writing removes its own part, which the run's clean-up may have missed.
    """
    started, cpu = time.perf_counter(), time.process_time()
    worker = get_worker()
    boundaries = worker.plugins.get(plugin)
    if boundaries is None:
        raise PartitionError(f"{partition.describe()}: not assigned, the run was stopped")
    hierarchy, built = boundaries.prepared()
    counts = assign_partition(hierarchy, partition, out, max_distance_m)
    if plugin not in worker.plugins:
        (Path(out) / part_name(partition.number)).unlink(missing_ok=True)
        raise PartitionError(f"{partition.describe()}: part removed, the run was stopped")
    return {
        "counts": counts,
        "built_index": built,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
    }


# --- the run (on the client) ------------------------------------------------------------------


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None,
    workers: int | None = None,
    timeout_s: float = 10.0,
    workers_timeout_s: float | None = None,
) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a new local cluster of processes.

    An unreachable scheduler raises :class:`InputError` within ``timeout_s`` seconds,
    one without workers within ``workers_timeout_s`` more (default: ``timeout_s``).

    Examples
    --------
    >>> with dask_client(workers=0):  # doctest: +ELLIPSIS
    ...     pass
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: --workers: must be at least 1, got 0
    """
    if workers is not None and workers < 1:  # a cluster of none would wait forever
        raise InputError(f"--workers: must be at least 1, got {workers}")
    if scheduler is None:
        with _local_cluster(workers) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(
            f"--scheduler {scheduler}: no Dask scheduler answered within {timeout_s:g} s ({exc})"
        ) from None
    with client:
        _wait_for_a_worker(
            client, scheduler, timeout_s if workers_timeout_s is None else workers_timeout_s
        )
        yield client


def _local_cluster(workers: int | None) -> LocalCluster:
    # The workers' own logs would print each failed partition's traceback; the
    # error that matters comes back to the caller, naming the partition.
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    )


def _wait_for_a_worker(client: Client, scheduler: str, timeout_s: float) -> None:
    try:
        client.wait_for_workers(1, timeout=timeout_s)
    except TimeoutError:
        raise InputError(
            f"--scheduler {scheduler}: the scheduler has no workers (none within "
            f"{timeout_s:g} s); start some with `dask worker {scheduler}`"
        ) from None


def assign_on_dask(
    client: Client,
    hierarchy: Hierarchy,
    partitions: Sequence[Partition],
    out: str | Path,
    max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
    progress: Callable[[int], None] | None = None,
) -> AssignmentSummary:
    """Assign every partition on the cluster; one part per partition in ``out``.

    ``hierarchy`` must not be prepared here: it travels unindexed and each worker
    builds its own index once. ``progress(rows)`` is told of each finished partition.
    If any partition fails, the run stops its other partitions and removes the parts
    it wrote before it raises: ``out`` is left without parts.
    """
    if not max_distance_m >= 0:
        raise InputError(f"max_distance_m must be ≥ 0, got {max_distance_m!r}")
    out = prepare_output(Path(out).absolute())
    name = f"geogrid-boundaries-{uuid.uuid4().hex}"
    client.register_plugin(BoundariesPlugin(hierarchy), name=name)
    futures: list = []
    finished = False
    try:
        futures = _submit(client, name, partitions, out, max_distance_m)
        summary = _gather(futures, partitions, progress)
        finished = True
    finally:
        _end_run(client, name, futures, out, {p.number for p in partitions}, finished)
    summary.out = out
    return summary


def _submit(client, plugin, partitions, out, max_distance_m) -> list:
    return [
        client.submit(
            _run_partition,
            plugin,
            partition,
            str(out),
            max_distance_m,
            key=f"geogrid-assign-{plugin[-8:]}-{partition.number}",
            pure=False,
        )
        for partition in partitions
    ]


def _gather(futures, partitions, progress) -> AssignmentSummary:
    by_key = {future.key: partition for future, partition in zip(futures, partitions, strict=True)}
    summary = AssignmentSummary()
    for future in as_completed(futures):
        done = _result(future, by_key[future.key])
        summary.add(done)
        if progress is not None:
            progress(sum(done["counts"].values()))
    return summary


def _end_run(client, plugin, futures, out: Path, numbers: set[int], finished: bool) -> None:
    """Unregister the run's plugin; after a failure, stop its tasks and remove its parts."""
    try:
        if finished:
            client.unregister_worker_plugin(plugin)
        else:
            _stop(client, plugin, futures)
    finally:
        with contextlib.suppress(Exception):
            client.cancel(futures)
        # A file that cannot be removed must not hide the error that stopped the run.
        with contextlib.suppress(OSError):
            _remove_files(out, numbers, parts=not finished)


def _stop(client, plugin, futures) -> None:
    """Tell every task of the run it is over, and wait up to :data:`STOP_WAIT_S` for them.

    A task not yet started then ends at once, writing nothing; one running writes
    its part before the parts are removed (or, ending later, removes its own: see
    :func:`_run_partition`). The error that stopped the run is the one to report,
    so the clean-up's own errors are not raised.
    """
    with contextlib.suppress(Exception):
        client.unregister_worker_plugin(plugin)
    with contextlib.suppress(Exception):
        wait(futures, timeout=STOP_WAIT_S)


def _result(future, partition: Partition) -> dict:
    try:
        return future.result()
    except KilledWorker:
        raise PartitionError(
            f"{partition.describe()}: the workers running it died again and again "
            "(out of memory?); its part was not written"
        ) from None
    except FutureCancelledError:
        raise PartitionError(f"{partition.describe()}: cancelled by the cluster") from None
