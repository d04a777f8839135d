"""The nearest grid to a point outside every grid, with its exact distance in metres.

Distances are measured in the district's CGCS2000 Gauss-Krüger zone. The
nearest point of a tiling to an outside point lies on the tiling's outline,
so only outline edges need measuring: an edge that two grids share (walked in
opposite directions once rings are oriented) is inside and is dropped. Edges
are kept in square buckets (:data:`BUCKET_M` by default); a point is measured, in numpy, against
the edges of its bucket and the eight around it, which covers every edge within
one bucket of it. Larger radii fall back to a GEOS nearest-neighbour search.
Ties (a point nearest to a vertex two grids share) go to the lowest position.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

import numpy as np
import pyproj
import shapely

from geogrid.assign.locate import NO_GRID, lowest_per_point
from geogrid.crs import gauss_kruger_epsg

#: Default side of the edge buckets; up to this radius :meth:`NearestFinder.nearest`
#: measures in numpy, beyond it GEOS searches. Smaller buckets mean fewer edges a point.
BUCKET_M = 50.0
#: At most this many buckets: a province 450 km across would need 80 million of
#: 50 m, so wider boundaries get wider buckets (more edges each, same answers).
MAX_BUCKETS = 1 << 22
_FINDER_ARRAYS = ("start", "end", "owner", "origin", "bucket_edge", "bucket_start")


class NearestFinder:
    """Exact nearest polygon and distance in metres.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> finder = NearestFinder(np.array([box(120.0, 28.0, 120.01, 28.01)]))
    >>> index, distance = finder.nearest(np.array([120.0105]), np.array([28.005]), 50)
    >>> int(index[0]), round(float(distance[0]))
    (0, 49)
    >>> index, distance = finder.nearest(np.array([120.02]), np.array([28.005]), 5000)
    >>> int(index[0]), round(float(distance[0]))
    (0, 984)
    """

    def __init__(self, polygons: np.ndarray, bucket_m: float = BUCKET_M) -> None:
        self._bucket_m = bucket_m
        self._polygons = polygons
        self._epsg = gauss_kruger_epsg(float(np.mean(shapely.total_bounds(polygons)[[0, 2]])))
        # Only the outline is projected now: shared edges are found in lon/lat, where
        # neighbours' vertices are just as identical, and the projection keeps orientation.
        start, end, self._owner = _outline_edges(polygons)
        self._start, self._end = self._project(start), self._project(end)
        self._bucket_m = _bucket_size(self._start, self._end, bucket_m)
        self._bucket_edges()

    @classmethod
    def from_arrays(cls, polygons: np.ndarray, arrays: Mapping[str, np.ndarray]) -> NearestFinder:
        """The finder that :meth:`to_arrays` described, over the same polygons, unbuilt.

        Examples
        --------
        >>> from shapely.geometry import box
        >>> polygons = np.array([box(120.0, 28.0, 120.01, 28.01)])
        >>> copy = NearestFinder.from_arrays(polygons, NearestFinder(polygons).to_arrays())
        >>> round(float(copy.nearest(np.array([120.0105]), np.array([28.005]), 50)[1][0]))
        49
        """
        finder = cls.__new__(cls)
        finder._polygons = polygons
        bucket_m, columns, rows, epsg = (float(v) for v in arrays["shape"])
        finder._bucket_m, finder._columns, finder._rows = bucket_m, int(columns), int(rows)
        finder._epsg = int(epsg)
        for name in _FINDER_ARRAYS:
            setattr(finder, f"_{name}", arrays[name])
        return finder

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything the finder built, as plain arrays (for :mod:`geogrid.assign.shared`)."""
        arrays = {name: getattr(self, f"_{name}") for name in _FINDER_ARRAYS}
        shape = [self._bucket_m, self._columns, self._rows, self._epsg]
        arrays["shape"] = np.array(shape, dtype=np.float64)
        return arrays

    @cached_property
    def _to_metric(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs(4326, self._epsg, always_xy=True)

    @cached_property
    def _tree(self) -> shapely.STRtree:
        # Built on the first search beyond a bucket: rare, and every polygon projected
        # would otherwise stay in memory in every process.
        return shapely.STRtree(shapely.transform(self._polygons, self._project))

    def _project(self, coords: np.ndarray) -> np.ndarray:
        return np.column_stack(self._to_metric.transform(coords[:, 0], coords[:, 1]))

    def nearest(
        self, lon: np.ndarray, lat: np.ndarray, radius_m: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest polygon within ``radius_m`` (lowest position on ties) and its distance.

        Points with nothing within the radius get -1 and NaN.
        """
        xy = self._project(np.column_stack([lon, lat]))
        if radius_m > self._bucket_m:
            return self._search(xy, radius_m)
        index = np.full(len(xy), NO_GRID, dtype=np.int64)
        distance = np.full(len(xy), np.nan)
        rows = np.flatnonzero(np.isfinite(xy).all(axis=1))
        point, edge = self._candidate_edges(xy[rows])
        measured = _point_segment_distance(xy[rows][point], self._start[edge], self._end[edge])
        within = measured <= radius_m
        found, best = _closest(
            len(rows), point[within], self._owner[edge][within], measured[within]
        )
        index[rows], distance[rows] = found, best
        return index, distance

    def _search(self, xy: np.ndarray, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
        index = np.full(len(xy), NO_GRID, dtype=np.int64)
        distance = np.full(len(xy), np.nan)
        rows = np.flatnonzero(np.isfinite(xy).all(axis=1))
        (point, polygon), measured = self._tree.query_nearest(
            shapely.points(xy[rows]),
            max_distance=radius_m,
            return_distance=True,
            all_matches=True,
        )
        index[rows], distance[rows] = _closest(len(rows), point, polygon, measured)
        return index, distance

    def _bucket_edges(self) -> None:
        low = np.minimum(self._start, self._end)
        high = np.maximum(self._start, self._end)
        self._origin = low.min(axis=0) if len(low) else np.zeros(2)
        first = np.floor((low - self._origin) / self._bucket_m).astype(np.int64)
        last = np.floor((high - self._origin) / self._bucket_m).astype(np.int64)
        self._columns, rows = (last.max(axis=0) + 1) if len(last) else (1, 1)
        span = last - first + 1
        counts = span[:, 0] * span[:, 1]
        edge = np.repeat(np.arange(len(low)), counts)
        step = np.arange(len(edge)) - np.repeat(np.cumsum(counts) - counts, counts)
        row, col = np.divmod(step, span[edge, 0])
        bucket = (first[edge, 1] + row) * self._columns + first[edge, 0] + col
        self._bucket_edge = edge[np.argsort(bucket, kind="stable")]
        per_bucket = np.bincount(bucket, minlength=self._columns * rows)
        self._bucket_start = np.concatenate([[0], np.cumsum(per_bucket)])
        self._rows = rows

    @property
    def bucket_m(self) -> float:
        """The side of a bucket in metres: ``BUCKET_M`` unless the boundaries are very wide."""
        return self._bucket_m

    def _candidate_edges(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point, edge) pairs: every edge in the 3 × 3 buckets around each point."""
        cell = np.floor((xy - self._origin) / self._bucket_m).astype(np.int64)
        points, edges = [], []
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                col, row = cell[:, 0] + dx, cell[:, 1] + dy
                real = (col >= 0) & (col < self._columns) & (row >= 0) & (row < self._rows)
                bucket = np.where(real, row * self._columns + col, 0)
                first = self._bucket_start[bucket]
                counts = np.where(real, self._bucket_start[bucket + 1] - first, 0)
                point = np.repeat(np.arange(len(xy)), counts)
                offset = np.arange(len(point)) - np.repeat(np.cumsum(counts) - counts, counts)
                points.append(point)
                edges.append(self._bucket_edge[np.repeat(first, counts) + offset])
        return np.concatenate(points), np.concatenate(edges)


def _outline_edges(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges not shared by two polygons walking them in opposite directions, with owners."""
    parts, part_owner = shapely.get_parts(shapely.orient_polygons(polygons), return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    start, end = coords[:-1][same], coords[1:][same]
    owner = part_owner[ring_part[ring[:-1][same]]]
    forward = _edge_keys(start, end)
    inside = np.isin(forward, _edge_keys(end, start))
    return start[~inside], end[~inside], owner[~inside]


def _edge_keys(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    both = np.ascontiguousarray(np.hstack([start, end]))
    return both.view(np.dtype((np.void, both.dtype.itemsize * 4))).ravel()


def _point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab, ap = b - a, p - a
    length2 = np.einsum("ij,ij->i", ab, ab)
    t = np.einsum("ij,ij->i", ap, ab) / np.where(length2 > 0, length2, 1)
    # End points are taken as they are, not as a + 1 * (b - a): two grids sharing
    # a vertex must measure exactly the same distance to it for the tie rule.
    closest = np.where((t <= 0)[:, None], a, np.where((t >= 1)[:, None], b, a + ab * t[:, None]))
    return np.hypot(*(p - closest).T)


def _closest(count, point, polygon, distance) -> tuple[np.ndarray, np.ndarray]:
    shortest = np.full(count, np.inf)
    np.minimum.at(shortest, point, distance)
    tied = distance == shortest[point]
    index = lowest_per_point(count, point[tied], polygon[tied])
    return index, np.where(np.isfinite(shortest), shortest, np.nan)


def _bucket_size(start: np.ndarray, end: np.ndarray, wanted_m: float) -> float:
    """``wanted_m``, or wider so that the edges' extent needs at most :data:`MAX_BUCKETS`.

    Examples
    --------
    >>> _bucket_size(np.array([[0.0, 0.0]]), np.array([[1000.0, 500.0]]), 50.0)
    50.0
    >>> _bucket_size(np.array([[0.0, 0.0]]), np.array([[450e3, 450e3]]), 50.0) > 200
    True
    """
    if not len(start):
        return wanted_m
    extent = np.maximum(start, end).max(axis=0) - np.minimum(start, end).min(axis=0)
    needed = float(np.sqrt(np.prod(extent + wanted_m) / MAX_BUCKETS))
    return max(wanted_m, needed)
