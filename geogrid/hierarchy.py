"""The grid hierarchy: levels, grids, codes and parents, loaded from a manifest.

Examples
--------
>>> from geogrid import Hierarchy
>>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
>>> h.levels
['street', 'community', 'grid', 'microgrid', 'building']
>>> h.grids("street")[["code", "name"]].head(1).to_dict("records")
[{'code': '330399001', 'name': '江北街道'}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.assign import DEFAULT_MAX_DISTANCE_M, Assigner, base_level
from geogrid.assign.shared import shared_assigner
from geogrid.errors import InputError, LayerError, NotFoundError
from geogrid.layers import read_boundary_layer, read_layer, to_wgs84_geometry
from geogrid.manifest import Manifest, load_manifest
from geogrid.models import Level
from geogrid.topology import TopologyReport, validate_levels


class Hierarchy:
    """A district's nested grids, every level in EPSG:4326, top level first.

    Build it with :meth:`from_manifest`, or directly from frames that have the
    columns ``code``, ``name``, ``parent`` and ``geometry``.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> street = gpd.GeoDataFrame({"code": ["1"], "name": ["东街"], "parent": [None]},
    ...                           geometry=[box(120.0, 28.0, 120.02, 28.01)], crs=4326)
    >>> grid = gpd.GeoDataFrame({"code": ["101", "102"], "name": ["甲", "乙"],
    ...                         "parent": ["1", "1"]},
    ...                         geometry=[box(120.0, 28.0, 120.01, 28.01),
    ...                                   box(120.01, 28.0, 120.02, 28.01)], crs=4326)
    >>> h = Hierarchy([Level("street", "街道", "", "code"), Level("grid", "网格", "", "code")],
    ...               {"street": street, "grid": grid})
    >>> h.assign([120.005, 120.01], [28.005, 28.005])[["grid_code", "status"]].values.tolist()
    [['101', 'assigned'], ['101', 'assigned']]
    """

    def __init__(
        self,
        levels: Sequence[Level],
        grids: Mapping[str, gpd.GeoDataFrame],
        *,
        name: str | None = None,
        roads: gpd.GeoDataFrame | None = None,
        manifest: Manifest | None = None,
    ) -> None:
        self._levels = tuple(levels)
        self._grids = {
            level.key: _ensure_parents(grids, self._levels, i)
            for i, level in enumerate(self._levels)
        }
        self.name = name
        self._roads = roads
        self.manifest = manifest
        # Scopes repeat (every request of one account asks for the same): the grids do not
        # change once loaded, so what a scope covers is worked out once.
        self._covered: dict[frozenset[str], frozenset[str]] = {}
        self._shared_folder: Path | None = None

    @classmethod
    def from_manifest(cls, path: str | Path) -> Hierarchy:
        """Load every level named by a boundaries manifest (see :mod:`geogrid.manifest`).

        Examples
        --------
        >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
        >>> h.level("building").coverage
        'partial'
        """
        manifest = load_manifest(path)
        frames: dict[str, gpd.GeoDataFrame] = {}
        for level in manifest.levels:
            frames[level.key] = read_boundary_layer(manifest.source(level), level, manifest.crs)
        roads = _read_roads(manifest)
        return cls(manifest.levels, frames, name=manifest.name, roads=roads, manifest=manifest)

    @property
    def levels(self) -> list[str]:
        """Level keys, top first."""
        return [level.key for level in self._levels]

    @property
    def default_level(self) -> str:
        """The level used when a command, page or analysis names none.

        The manifest's ``default_level`` if it has one; otherwise the finest level
        whose grids tile the district (the level reports are handled at first).

        Examples
        --------
        >>> from dataclasses import replace
        >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
        >>> h.default_level
        'grid'
        >>> unmarked = [replace(h.level(key), default=False) for key in h.levels]
        >>> Hierarchy(unmarked, {key: h.grids(key) for key in h.levels}).default_level
        'microgrid'
        """
        marked = [level.key for level in self._levels if level.default]
        return marked[0] if marked else self._levels[base_level(self._levels)].key

    def chosen_level(self, key: str | None, field: str = "level") -> str:
        """The level a caller asked for, checked, or :attr:`default_level` when none.

        Examples
        --------
        >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
        >>> h.chosen_level(None), h.chosen_level("street")
        ('grid', 'street')
        >>> h.chosen_level("floor", "--level")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        geogrid.errors.InputError: --level: 'floor' is not one of street, community, grid, ...
        """
        if not key:
            return self.default_level
        if key not in self.levels:
            raise InputError(f"{field}: {key!r} is not one of {', '.join(self.levels)}")
        return key

    def level(self, key: str) -> Level:
        """The :class:`~geogrid.models.Level` with this key."""
        for level in self._levels:
            if level.key == key:
                return level
        raise InputError(f"unknown level {key!r}; levels are {', '.join(self.levels)}")

    def grids(self, level: str) -> gpd.GeoDataFrame:
        """Grids of one level: code, name, parent, attributes, geometry (EPSG:4326)."""
        self.level(level)
        return self._grids[level].copy()

    def find(self, code: str) -> tuple[str, gpd.GeoDataFrame]:
        """The level of a grid code and the grid's row; :class:`NotFoundError` if none.

        Examples
        --------
        >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
        >>> level, row = h.find("330399001001")
        >>> level, row["name"].item()
        ('community', '金水社区')
        """
        for level in self._levels:
            frame = self._grids[level.key]
            match = frame[frame["code"] == code]
            if len(match):
                return level.key, match.copy()
        raise NotFoundError(f"grid {code} does not exist in this generation")

    def children(self, code: str) -> tuple[str | None, gpd.GeoDataFrame]:
        """The level below a grid and the grid's children there (empty at the finest level)."""
        depth = self.levels.index(self.find(code)[0])
        if depth + 1 == len(self._levels):
            return None, self._grids[self._levels[depth].key].iloc[:0].copy()
        below = self._levels[depth + 1].key
        frame = self._grids[below]
        return below, frame[frame["parent"] == code].copy()

    def covered(self, codes: Iterable[str]) -> frozenset[str]:
        """The given grid codes and every code below them, at every level.

        What a scope of grid codes covers: a grid worker's grid with its micro-grids
        and buildings, a street with all of its communities. Codes are followed
        through the ``parent`` column, never matched as prefixes.

        Examples
        --------
        >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
        >>> covered = h.covered(["330399001001"])
        >>> "330399001001001" in covered, "330399001002001" in covered
        (True, False)
        """
        scope = frozenset(code for code in codes if isinstance(code, str))
        if scope not in self._covered:
            if len(self._covered) > 1024:  # bounded: forget them all now and then
                self._covered.clear()
            self._covered[scope] = self._descendants(scope)
        return self._covered[scope]

    def _descendants(self, scope: frozenset[str]) -> frozenset[str]:
        covered = set(scope)
        for level in self._levels:
            frame = self._grids[level.key]
            covered.update(frame.loc[frame["parent"].isin(covered), "code"])
        return frozenset(covered)

    def roads(self) -> gpd.GeoDataFrame | None:
        """The road network layer named in the manifest's ``[roads]`` table, if any."""
        return None if self._roads is None else self._roads.copy()

    def validate(self, sliver_m2: float = 1.0) -> TopologyReport:
        """Topology report: invalid geometries, duplicate codes, overlaps, gaps, nesting.

        Examples
        --------
        >>> Hierarchy.from_manifest("data/boundaries/sample.toml").validate().ok
        True
        """
        if not sliver_m2 >= 0:
            raise InputError(f"sliver_m2 must be ≥ 0, got {sliver_m2!r}")
        return validate_levels(self._levels, self._grids, sliver_m2=sliver_m2)

    def assign(
        self,
        lon,
        lat,
        crs: str = "WGS-84",
        max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
    ) -> pd.DataFrame:
        """Assign points to their grid at every level; row-aligned with the input.

        Returns a DataFrame with one ``<level>_code`` column per level, ``status``
        ("assigned", "nearest" within ``max_distance_m``, "unassigned"),
        ``distance_m`` (0 when inside) and ``nearest_code`` (the nearest grid of
        the finest full level for points outside every grid).

        Examples
        --------
        >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
        >>> h.assign([float("nan")], [28.0])["status"].tolist()
        ['unassigned']
        """
        return self._assigner.assign(lon, lat, crs=crs, max_distance_m=max_distance_m)

    def lookup(
        self,
        lon: float,
        lat: float,
        crs: str = "WGS-84",
        max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
    ) -> dict:
        """One point: the code at every level, status, distance and nearest code.

        Examples
        --------
        >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
        >>> h.lookup(120.655, 28.01)["codes"]["street"]
        '330399003'
        """
        return self._assigner.lookup(lon, lat, crs=crs, max_distance_m=max_distance_m)

    def prepare(self, shared_folder: str | Path | None = None) -> Hierarchy:
        """Build the assignment index now instead of on the first :meth:`assign`.

        Servers call it at start so that the first report does not wait. With
        ``shared_folder``, the index is mapped from that folder, where every
        process using these boundaries finds one copy (the first one to need it
        builds and saves it there): see :mod:`geogrid.assign.shared`. If that
        folder cannot be used (a full disk), the index is built in this process,
        with a logged warning. The answers are the same either way.

        Examples
        --------
        >>> Hierarchy.from_manifest("data/boundaries/sample.toml").prepare().levels[-1]
        'building'
        >>> import tempfile
        >>> from shapely.geometry import box
        >>> street = gpd.GeoDataFrame({"code": ["1"], "name": ["东街"]},
        ...                           geometry=[box(120.0, 28.0, 120.01, 28.01)], crs=4326)
        >>> h = Hierarchy([Level("street", "街道", "", "code")], {"street": street})
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     h.prepare(folder).lookup(120.005, 28.005)["codes"]
        {'street': '1'}
        """
        if shared_folder is not None and "_assigner" not in self.__dict__:
            self._shared_folder = Path(shared_folder)
        self._assigner  # noqa: B018 - building the cached index is the point
        return self

    @cached_property
    def _assigner(self) -> Assigner:
        for level in self._levels:
            _refuse_duplicate_codes(level, self._grids[level.key])
        if self._shared_folder is not None:
            return shared_assigner(self._levels, self._grids, self._shared_folder)
        return Assigner(self._levels, self._grids)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{lv.key}={len(self._grids[lv.key])}" for lv in self._levels)
        return f"<Hierarchy {self.name or ''} {sizes}>"


def _ensure_parents(
    grids: Mapping[str, gpd.GeoDataFrame], levels: Sequence[Level], depth: int
) -> gpd.GeoDataFrame:
    frame = grids[levels[depth].key]
    if depth == 0:
        return frame.assign(parent=None)
    if "parent" in frame.columns and frame["parent"].notna().any():
        return frame
    return frame.assign(parent=parents_by_location(frame, grids[levels[depth - 1].key]))


def parents_by_location(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> np.ndarray:
    """Parent code of each child: the parent covering the child's representative point.

    Used when a level has no parent column. Ties go to the lowest code, like points.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> parents = gpd.GeoDataFrame({"code": ["A", "B"]},
    ...                            geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)])
    >>> children = gpd.GeoDataFrame(geometry=[box(1.2, 0.2, 1.4, 0.4), box(5, 5, 6, 6)])
    >>> parents_by_location(children, parents).tolist()
    ['B', None]
    """
    order = np.argsort(parents["code"].to_numpy().astype(str))
    sorted_codes = parents["code"].to_numpy()[order]
    tree = shapely.STRtree(parents.geometry.values[order])
    points = shapely.point_on_surface(children.geometry.values)
    child_i, parent_i = tree.query(points, predicate="covered_by")
    lowest = np.full(len(children), len(order), dtype=np.int64)
    np.minimum.at(lowest, child_i, parent_i)
    found = lowest < len(order)
    result = np.full(len(children), None, dtype=object)
    result[found] = sorted_codes[lowest[found]]
    return result


def _refuse_duplicate_codes(level: Level, frame: gpd.GeoDataFrame) -> None:
    counts = frame["code"].value_counts()
    duplicated = counts[counts > 1]
    if len(duplicated):
        examples = ", ".join(f"{code} ({n} rows)" for code, n in duplicated.head(5).items())
        raise LayerError(
            f"level '{level.key}' ({level.path}): column '{level.code}' has duplicate codes: "
            f"{examples}; run 'geogrid validate' for the full report"
        )


def _read_roads(manifest: Manifest) -> gpd.GeoDataFrame | None:
    if manifest.roads is None:
        return None
    what = f"roads ({manifest.roads.display})"
    frame = read_layer(manifest.roads, what)
    geometry = to_wgs84_geometry(frame, manifest.roads.crs, manifest.crs, what)
    return frame.set_geometry(geometry)
