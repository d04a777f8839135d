"""Assignment of many points in chunks: the one bulk path the command line and engines share.

A chunk of points is assigned with :meth:`geogrid.Hierarchy.assign` and the parts
are joined in order, so the answer is the same as one call on every point, while
memory stays bounded by the chunk and a caller can show progress.

Examples
--------
>>> import numpy as np
>>> from geogrid import Hierarchy
>>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
>>> frame = assign_in_chunks(h, np.array([120.655, 0.0]), np.array([28.01, 0.0]), chunk=1)
>>> frame["status"].tolist()
['assigned', 'unassigned']
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from geogrid.assign.assigner import DEFAULT_MAX_DISTANCE_M
from geogrid.errors import InputError
from geogrid.hierarchy import Hierarchy

#: Points assigned in one call: a chunk's working memory stays near 100 MB.
CHUNK = 100_000


def assign_in_chunks(
    hierarchy: Hierarchy,
    x: np.ndarray,
    y: np.ndarray,
    crs: str = "WGS-84",
    max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
    *,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Assign points ``chunk`` at a time; ``progress(n)`` is told of each chunk's size.

    Row-aligned with ``x`` and ``y``, exactly as ``hierarchy.assign(x, y, crs,
    max_distance_m)`` would answer.
    """
    if chunk < 1:
        raise InputError(f"chunk: must be at least 1, got {chunk}")
    parts = []
    for start in range(0, max(len(x), 1), chunk):
        stop = start + chunk
        parts.append(hierarchy.assign(x[start:stop], y[start:stop], crs, max_distance_m))
        if progress is not None:
            progress(len(parts[-1]))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def assign_frame(
    hierarchy: Hierarchy,
    frame: pd.DataFrame,
    lon: str = "lon",
    lat: str = "lat",
    crs: str = "WGS-84",
    max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
) -> pd.DataFrame:
    """Assign the rows of a frame by its ``lon`` and ``lat`` columns, in chunks.

    The one function every bulk path calls per batch or partition (the command
    line's Dask engine, re-assigning stored reports). Coordinates may be numbers
    or text; text that is not a number becomes NaN, so that row is "unassigned",
    as in :func:`geogrid.points.read_points`. The answer carries ``frame``'s
    index, so ``frame.join(answer)`` puts each row beside its grids.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> reports = pd.DataFrame({"lon": ["120.655", "x"], "lat": [28.01, 28.01]}, index=[7, 9])
    >>> answer = assign_frame(h, reports)
    >>> answer["status"].to_dict(), answer["street_code"][7]
    ({7: 'assigned', 9: 'unassigned'}, '330399003')
    """
    x, y = (_numbers(frame, column, role) for column, role in ((lon, "lon"), (lat, "lat")))
    answer = assign_in_chunks(hierarchy, x, y, crs, max_distance_m)
    answer.index = frame.index
    return answer


def _numbers(frame: pd.DataFrame, column: str, role: str) -> np.ndarray:
    if column not in frame.columns:
        names = ", ".join(map(str, frame.columns))
        raise InputError(f"no column '{column}' for {role}; columns are: {names}")
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values):
        values = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    return values.to_numpy(dtype=np.float64, na_value=np.nan)
