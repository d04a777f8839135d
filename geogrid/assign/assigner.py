"""Point → grid assignment at every level, vectorised for millions of points.

The rules (DESIGN.md §4):

* a point belongs to the grid that *covers* it (boundary included); a point on a
  shared edge goes to the grid with the lowest code (codes compare as strings,
  which for the fixed-width numeric codes of DB11/T 2157 is numeric order);
* the finest level is looked up first and ancestors come from the parent chain.
  The "base" level is the finest level of the unbroken run of full-coverage
  levels from the top (micro-grids in the sample); partial levels below it
  (buildings) are looked up first, and a point between buildings is still
  assigned at every level down to the base;
* a point outside every grid but within ``max_distance_m`` of one is "nearest"
  (that grid, exact distance in metres); farther is "unassigned" with empty
  codes, and the nearest grid and its distance are still recorded, to within a
  few metres (from the raster) or exactly beyond the raster; NaN or
  out-of-range coordinates are "unassigned" with no distance.

The point location itself is :class:`geogrid.assign.locate.PointLocator`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from geogrid.assign.locate import NO_GRID, PointLocator
from geogrid.assign.nearest import NearestFinder
from geogrid.crs import to_wgs84
from geogrid.errors import InputError
from geogrid.models import ASSIGNED, ASSIGNMENT_OUTCOMES, NEAREST, UNASSIGNED, Level

DEFAULT_MAX_DISTANCE_M = 50.0
#: The base level's raster reaches this far beyond the grids, so that nearly every
#: "nearest" candidate is sorted out from the raster before any exact distance.
RASTER_MARGIN_M = 250.0
#: How far (metres) beyond the raster the nearest grid is still looked for.
SEARCH_RADIUS_M = 100_000.0
_STATUS_CODE = {status: code for code, status in enumerate(ASSIGNMENT_OUTCOMES)}
_STATUS_DTYPE = pd.CategoricalDtype(ASSIGNMENT_OUTCOMES)


@dataclass
class _LevelIndex:
    level: Level
    codes: np.ndarray  # sorted, unique
    ancestors: np.ndarray  # (n + 1, depth + 1): position at every level above and its own;
    # the extra last row is all -1, so that gathering with position -1 yields -1s.

    @cached_property
    def dtype(self) -> pd.CategoricalDtype:
        # Built once: checking thousands of categories on every call would cost
        # more than assigning a single point.
        return pd.CategoricalDtype(self.codes)


@dataclass
class _Outcome:
    """Per point: position at the base level and at each partial level, status, distances."""

    base: np.ndarray
    partial: dict[int, np.ndarray]
    status: np.ndarray
    distance: np.ndarray
    nearest: np.ndarray


class Assigner:
    """Assigns points to grids at every level of a hierarchy; build once, call many times.

    Parameters
    ----------
    levels : the levels, top first.
    grids : per level key, a frame with ``code``, ``parent`` and ``geometry`` (EPSG:4326),
        codes unique within the level.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> lon, lat = h.grids("grid").geometry.iloc[0].representative_point().xy
    >>> h.assign(lon, lat)["status"].tolist()
    ['assigned']
    """

    def __init__(self, levels: Sequence[Level], grids: Mapping) -> None:
        self._levels = list(levels)
        self._index = _chain(self._levels, grids)
        self._base = base_level(self._levels)
        polygons = self._polygons(grids)
        self._partial = {
            depth: PointLocator(polygons[depth])
            for depth in sorted(polygons, reverse=True)
            if depth > self._base
        }
        self._locator = PointLocator(polygons[self._base], margin_m=RASTER_MARGIN_M)
        self._locator.build_distance_field()
        self._nearest = NearestFinder(polygons[self._base])

    @classmethod
    def from_arrays(
        cls, levels: Sequence[Level], grids: Mapping, arrays: Mapping[str, np.ndarray]
    ) -> Assigner:
        """The assigner that :meth:`to_arrays` described, for the same grids, without building.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
        >>> levels, grids = [h.level(k) for k in h.levels], {k: h.grids(k) for k in h.levels}
        >>> built = Assigner(levels, grids)
        >>> loaded = Assigner.from_arrays(levels, grids, built.to_arrays())
        >>> loaded.lookup(120.655, 28.01) == built.lookup(120.655, 28.01)
        True
        """
        if not {"base.near_owner", "base.near_distance"} <= arrays.keys():
            raise KeyError("the arrays lack the base level's distance field")
        assigner = cls.__new__(cls)
        assigner._levels, assigner._base = list(levels), base_level(levels)
        assigner._index = [
            _LevelIndex(level, arrays[f"level{depth}.codes"], arrays[f"level{depth}.ancestors"])
            for depth, level in enumerate(assigner._levels)
        ]
        polygons = assigner._polygons(grids)
        assigner._partial = {
            depth: PointLocator.from_arrays(polygons[depth], _prefixed(arrays, f"partial{depth}."))
            for depth in sorted(polygons, reverse=True)
            if depth > assigner._base
        }
        base = polygons[assigner._base]
        assigner._locator = PointLocator.from_arrays(base, _prefixed(arrays, "base."))
        assigner._nearest = NearestFinder.from_arrays(base, _prefixed(arrays, "nearest."))
        return assigner

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything built, as named plain arrays (saved by :mod:`geogrid.assign.shared`)."""
        arrays = {}
        for depth, index in enumerate(self._index):
            arrays[f"level{depth}.codes"] = index.codes
            arrays[f"level{depth}.ancestors"] = index.ancestors
        parts = {f"partial{depth}.": locator for depth, locator in self._partial.items()}
        parts.update({"base.": self._locator, "nearest.": self._nearest})
        for prefix, part in parts.items():
            arrays.update({prefix + name: value for name, value in part.to_arrays().items()})
        return arrays

    def _polygons(self, grids: Mapping) -> dict[int, np.ndarray]:
        """Polygons of the base level and the levels below it, in code order."""
        return {
            depth: _sorted_polygons(grids[self._levels[depth].key], index.codes)
            for depth, index in enumerate(self._index)
            if depth >= self._base
        }

    def assign(
        self, lon, lat, crs: str = "WGS-84", max_distance_m: float = DEFAULT_MAX_DISTANCE_M
    ) -> pd.DataFrame:
        """Row-aligned assignment: one ``<level>_code`` column per level, status, distances."""
        return self._frame(self._outcome(lon, lat, crs, max_distance_m))

    def lookup(
        self,
        lon: float,
        lat: float,
        crs: str = "WGS-84",
        max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
    ) -> dict:
        """One point's assignment as plain values: a phone's or the API's single lookup.

        The same answer as one row of :meth:`assign`, without building a DataFrame.
        """
        outcome = self._outcome([lon], [lat], crs, max_distance_m)
        codes = {}
        for depth, index in enumerate(self._index):
            position = int(self._positions_at(depth, outcome)[0])
            codes[index.level.key] = None if position < 0 else str(index.codes[position])
        status = ASSIGNMENT_OUTCOMES[int(outcome.status[0])]
        nearest = int(outcome.nearest[0])
        distance = float(outcome.distance[0])
        return {"codes": codes, "status": status,
                "distance_m": None if np.isnan(distance) else round(distance, 2),
                "nearest_code": None if status == ASSIGNED or nearest < 0
                else str(self._index[self._base].codes[nearest])}  # fmt: skip

    def _outcome(self, lon, lat, crs: str, max_distance_m: float) -> _Outcome:
        if not max_distance_m >= 0:
            raise InputError(f"max_distance_m must be ≥ 0, got {max_distance_m!r}")
        lon, lat = _coordinates(lon, lat, crs)
        outcome = _Outcome(
            base=np.full(len(lon), NO_GRID, dtype=np.int64),
            partial={},
            status=np.full(len(lon), _STATUS_CODE[UNASSIGNED], dtype=np.int8),
            distance=np.full(len(lon), np.nan),
            nearest=np.full(len(lon), NO_GRID),
        )
        todo = self._locate_partial(lon, lat, np.flatnonzero(np.isfinite(lon)), outcome)
        found = self._locator.locate(lon[todo], lat[todo])
        outcome.base[todo] = found
        inside = outcome.base >= 0
        outcome.status[inside], outcome.distance[inside] = _STATUS_CODE[ASSIGNED], 0.0
        self._place_outside(lon, lat, todo[found < 0], max_distance_m, outcome)
        return outcome

    def _locate_partial(self, lon, lat, todo: np.ndarray, outcome: _Outcome) -> np.ndarray:
        """Look up partial levels, finest first; return the points still without a base grid."""
        for depth, locator in self._partial.items():
            found = locator.locate(lon[todo], lat[todo])
            outcome.partial[depth] = np.full(len(lon), NO_GRID, dtype=np.int64)
            outcome.partial[depth][todo] = found
            outcome.base[todo] = self._index[depth].ancestors[found, self._base]
            todo = todo[outcome.base[todo] < 0]
        return todo

    def _place_outside(self, lon, lat, rows, max_distance_m, outcome: _Outcome) -> None:
        if rows.size == 0:  # the common case for a single lookup: nothing to search
            return
        owner, rough = self._locator.distance_to_nearest(lon[rows], lat[rows])
        outcome.nearest[rows], outcome.distance[rows] = owner, rough
        # The raster is off by at most a cell diagonal, so only points it cannot
        # rule out get an exact distance; points beyond the raster are rare.
        close = rows[rough <= max_distance_m + 1.5 * self._locator.cell_m]
        far = rows[~np.isfinite(rough)]
        for candidates, radius in ((close, max_distance_m), (far, SEARCH_RADIUS_M)):
            if candidates.size == 0:
                continue
            index, exact = self._nearest.nearest(lon[candidates], lat[candidates], radius)
            found = index >= 0
            outcome.nearest[candidates[found]] = index[found]
            outcome.distance[candidates] = np.where(found, exact, outcome.distance[candidates])
            within = candidates[found & (exact <= max_distance_m)]
            outcome.base[within] = outcome.nearest[within]
            outcome.status[within] = _STATUS_CODE[NEAREST]
        outcome.distance[rows] = np.where(
            np.isinf(outcome.distance[rows]), np.nan, outcome.distance[rows]
        )

    def _frame(self, outcome: _Outcome) -> pd.DataFrame:
        base = self._index[self._base]
        columns = {}
        for depth, index in enumerate(self._index):
            positions = self._positions_at(depth, outcome)
            columns[index.level.code_column] = pd.Categorical.from_codes(
                positions, dtype=index.dtype, validate=False
            )
        columns["status"] = pd.Categorical.from_codes(outcome.status, dtype=_STATUS_DTYPE)
        columns["distance_m"] = np.round(outcome.distance, 2)  # centimetres are plenty
        unplaced = np.where(outcome.status == _STATUS_CODE[ASSIGNED], NO_GRID, outcome.nearest)
        columns["nearest_code"] = pd.Categorical.from_codes(unplaced, dtype=base.dtype,
                                                            validate=False)  # fmt: skip
        return pd.DataFrame(columns)

    def _positions_at(self, depth: int, outcome: _Outcome) -> np.ndarray:
        if depth <= self._base:
            return self._index[self._base].ancestors[outcome.base, depth]
        positions = outcome.partial.get(depth, np.full(len(outcome.base), NO_GRID))
        for finer, found in outcome.partial.items():
            if finer > depth:
                from_finer = self._index[finer].ancestors[found, depth]
                positions = np.where(positions >= 0, positions, from_finer)
        return positions


def _prefixed(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {name[len(prefix) :]: value for name, value in arrays.items() if name.startswith(prefix)}


def _coordinates(lon, lat, crs: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        lon = np.asarray(lon, dtype=np.float64).ravel()
        lat = np.asarray(lat, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError("lon and lat must be numbers") from None
    if lon.shape != lat.shape:
        raise InputError(f"lon has {lon.size} values but lat has {lat.size}")
    lon, lat = to_wgs84(lon, lat, crs)
    usable = (np.abs(lon) <= 180) & (np.abs(lat) <= 90)  # False for NaN and inf
    return np.where(usable, lon, np.nan), np.where(usable, lat, np.nan)


def base_level(levels: Sequence[Level]) -> int:
    """Depth of the finest level of the unbroken run of full-coverage levels from the top.

    Its grids tile the district, so it decides "assigned" versus "nearest".

    Examples
    --------
    >>> base_level([Level("a", "", "", "c"), Level("b", "", "", "c"),
    ...             Level("c", "", "", "c", coverage="partial")])
    1
    """
    base = 0
    while base + 1 < len(levels) and levels[base + 1].coverage == "full":
        base += 1
    return base


def _sorted_polygons(frame, codes: np.ndarray) -> np.ndarray:
    by_code = pd.Series(frame.geometry.values, index=frame["code"].to_numpy())
    return by_code.loc[codes].to_numpy()


def _chain(levels: Sequence[Level], grids: Mapping) -> list[_LevelIndex]:
    chain: list[_LevelIndex] = []
    for depth, level in enumerate(levels):
        frame = grids[level.key]
        codes = np.sort(frame["code"].to_numpy().astype(str))
        own = np.append(np.arange(len(codes)), NO_GRID)[:, None]
        if depth == 0:
            chain.append(_LevelIndex(level, codes, own))
            continue
        above = chain[-1]
        parents = frame.set_index("code")["parent"].reindex(codes).to_numpy()
        position = np.append(_positions(above.codes, parents), NO_GRID)
        chain.append(_LevelIndex(level, codes, np.hstack([above.ancestors[position], own])))
    return chain


def _positions(sorted_codes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Position of each wanted code in ``sorted_codes``, -1 where absent or missing."""
    wanted = np.array([w if isinstance(w, str) else "" for w in wanted], dtype=str)
    at = np.searchsorted(sorted_codes, wanted).clip(max=len(sorted_codes) - 1)
    return np.where(sorted_codes[at] == wanted, at, NO_GRID)
