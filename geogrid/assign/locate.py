"""Point location in many polygons, fast: a two-level raster with exact GEOS tests at edges.

:class:`PointLocator` answers "which polygon covers this point?" for millions of
points with the rule of DESIGN.md §4: covered-by (the boundary counts), and on a
shared edge the polygon with the lowest position (the caller sorts by code).

How: the polygons' bounding box is cut into square cells (in degrees). A cell
that no polygon edge crosses lies wholly inside one polygon or outside all, so
its answer is stored once. A cell that an edge crosses holds a block of k × k
sub-cells answered the same way. Only a point in a sub-cell that an edge
crosses is tested exactly, with GEOS, against the few polygons near that cell.
Answers are exact; only the work depends on the raster.

Edges are burnt in conservatively: each edge is cut into pieces no longer than
a cell, and every cell touched by a piece's bounding box, widened by
:data:`EDGE_EPS_DEG`, is marked. A cell left unmarked is at least that far from
every edge, far more than the rounding in the cell arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod
from scipy import ndimage

NO_GRID = -1
_EDGE = -2
#: Widening of each edge piece when it is burnt in (degrees, ~0.1 mm).
EDGE_EPS_DEG = 1e-9
_FOUR_NEIGHBOURS_WITHIN_A_BLOCK = np.zeros((3, 3, 3), dtype=bool)
_FOUR_NEIGHBOURS_WITHIN_A_BLOCK[1] = ndimage.generate_binary_structure(2, 1)
_LOCATOR_ARRAYS = (
    "origin", "coarse", "block_cell", "fine", "candidates", "candidate_start", "repaired"
)  # fmt: skip
_DISTANCE_ARRAYS = ("near_owner", "near_distance")
#: Edge pieces cut and burnt in at once: bounds the temporaries (~50 bytes a piece).
_PIECES_PER_CHUNK = 1 << 21


class PointLocator:
    """Finds, for each point, the lowest-positioned polygon that covers it.

    Parameters
    ----------
    polygons : array of shapely polygons (lon/lat), position = priority.
    max_cells : size of the coarse raster; 4M cells of int32 are 16 MB.
    subcells : k, a crossed cell is refined into k × k sub-cells.
    margin_m : extra raster around the polygons, so that :meth:`distance_to_nearest`
        is answered from the raster for points that close.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> locator = PointLocator(np.array([box(0, 0, 1, 1), box(1, 0, 2, 1)]))
    >>> locator.locate(np.array([0.5, 1.0, 1.5, 3.0]), np.array([0.5, 0.5, 0.5, 0.5]))
    array([ 0,  0,  1, -1])
    """

    def __init__(
        self,
        polygons: np.ndarray,
        max_cells: int = 1 << 22,
        subcells: int = 4,
        margin_m: float = 0.0,
    ) -> None:
        self._repaired = np.flatnonzero(~shapely.is_valid(polygons))
        self._polygons = _repair(polygons, self._repaired)
        shapely.prepare(self._polygons)
        self._k = subcells
        self._layout(shapely.total_bounds(polygons), max_cells, margin_m)
        start, end = _ring_segments(polygons)
        self._burn_coarse(start, end)
        self._label_coarse()
        self._make_blocks()
        self._burn_fine(start, end)
        self._label_fine()

    @classmethod
    def from_arrays(cls, polygons: np.ndarray, arrays: Mapping[str, np.ndarray]) -> PointLocator:
        """The locator that :meth:`to_arrays` described, over the same polygons, unbuilt.

        The arrays may be read-only memory maps: a loaded locator never writes to them.

        Examples
        --------
        >>> from shapely.geometry import box
        >>> polygons = np.array([box(0, 0, 1, 1), box(1, 0, 2, 1)])
        >>> copy = PointLocator.from_arrays(polygons, PointLocator(polygons).to_arrays())
        >>> copy.locate(np.array([0.5, 1.0, 1.5]), np.array([0.5, 0.5, 0.5]))
        array([0, 0, 1])
        """
        locator = cls.__new__(cls)
        # The build found which polygons need repair: no need to check them all again.
        locator._repaired = arrays["repaired"]
        locator._polygons = _repair(polygons, locator._repaired)
        shapely.prepare(locator._polygons)
        cell, metres_x, metres_y, subcells = (float(v) for v in arrays["scale"])
        locator._cell, locator._cell_m, locator._k = cell, (metres_x, metres_y), int(subcells)
        for name in _LOCATOR_ARRAYS:
            setattr(locator, f"_{name}", arrays[name])  # KeyError: an index incomplete
        for name in _DISTANCE_ARRAYS:
            if name in arrays:  # only the base level's locator has them
                setattr(locator, f"_{name}", arrays[name])
        return locator

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything the locator built, as plain arrays (for :mod:`geogrid.assign.shared`)."""
        arrays = {name: getattr(self, f"_{name}") for name in _LOCATOR_ARRAYS}
        arrays["scale"] = np.array([self._cell, *self._cell_m, self._k], dtype=np.float64)
        if hasattr(self, "_near_owner"):
            arrays.update({name: getattr(self, f"_{name}") for name in _DISTANCE_ARRAYS})
        return arrays

    @cached_property
    def _tree(self) -> shapely.STRtree:
        # Needed while building and for checks only: a loaded locator never makes one.
        return shapely.STRtree(self._polygons)

    # --- queries -----------------------------------------------------------------------

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Position of the covering polygon for each (finite) point, or -1 (``NO_GRID``)."""
        cell = self._flat_cell(x, y)
        found = self._coarse.ravel().take(cell).astype(np.int64)
        crossed = np.flatnonzero(found <= _EDGE)
        if crossed.size:
            block = _EDGE - found[crossed]
            sub = self._fine_labels(x[crossed], y[crossed], cell[crossed], block)
            found[crossed] = sub
            exact = sub == _EDGE
            found[crossed[exact]] = self._covering(
                x[crossed[exact]], y[crossed[exact]], block[exact]
            )
        return found

    def locate_exactly(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The same answer as :meth:`locate`, from GEOS ``covered_by`` alone (for checks)."""
        point_i, polygon_i = self._tree.query(shapely.points(x, y), predicate="covered_by")
        return lowest_per_point(len(x), point_i, polygon_i)

    def distance_to_nearest(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Approximate nearest polygon and distance (m) from the raster, within a cell diagonal.

        Points outside the raster get position -1 and distance ``inf``.
        """
        cell = self._flat_cell(x, y)
        inside = self._inside_raster(x, y)
        owner = np.where(inside, self._near_owner.ravel().take(cell), NO_GRID)
        distance = np.where(inside, self._near_distance.ravel().take(cell), np.inf)
        return owner, distance

    @property
    def cell_m(self) -> float:
        """The diagonal of a coarse cell in metres: the error bound unit of the raster."""
        return float(np.hypot(*self._cell_m))

    @property
    def shape(self) -> tuple[int, int]:
        """Rows and columns of the coarse raster."""
        return self._coarse.shape

    # --- layout ------------------------------------------------------------------------

    def _layout(self, bounds: np.ndarray, max_cells: int, margin_m: float) -> None:
        west, south, east, north = bounds
        metres_x, metres_y = _metres_per_degree((west + east) / 2, (south + north) / 2)
        margin_x, margin_y = margin_m / metres_x, margin_m / metres_y
        west, east, south, north = (
            west - margin_x,
            east + margin_x,
            south - margin_y,
            north + margin_y,
        )
        self._cell = max(np.sqrt((east - west) * (north - south) / max_cells), 1e-7)
        self._cell_m = (self._cell * metres_x, self._cell * metres_y)
        # Two cells of padding that no edge reaches: points outside the raster are
        # clipped onto it and find "no grid" there.
        self._origin = np.array([west - 2 * self._cell, south - 2 * self._cell])
        nx = int(np.ceil((east - west) / self._cell)) + 4
        ny = int(np.ceil((north - south) / self._cell)) + 4
        self._coarse = np.zeros((ny, nx), dtype=np.int32)

    def _flat_cell(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ny, nx = self._coarse.shape
        ix = np.clip((x - self._origin[0]) / self._cell, 0, nx - 1).astype(np.intp)
        iy = np.clip((y - self._origin[1]) / self._cell, 0, ny - 1).astype(np.intp)
        return iy * nx + ix

    def _inside_raster(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ny, nx = self._coarse.shape
        fx, fy = (x - self._origin[0]) / self._cell, (y - self._origin[1]) / self._cell
        return (fx >= 0) & (fx < nx) & (fy >= 0) & (fy < ny)

    # --- coarse raster -----------------------------------------------------------------

    def _burn_coarse(self, start: np.ndarray, end: np.ndarray) -> None:
        for iy, ix in _touched_cells(start, end, self._origin, self._cell):
            self._coarse[iy, ix] = _EDGE

    def _label_coarse(self) -> None:
        # Cells between edges form regions that no edge crosses, so each region
        # lies in one polygon (or none): one exact test per region suffices.
        free = self._coarse != _EDGE
        regions, count = ndimage.label(free)
        rows, cols = np.divmod(_one_cell_per_label(regions, count), self._coarse.shape[1])
        centre_x = self._origin[0] + (cols + 0.5) * self._cell
        centre_y = self._origin[1] + (rows + 0.5) * self._cell
        owner = np.concatenate([[NO_GRID], self.locate_exactly(centre_x, centre_y)])
        self._coarse[free] = owner[regions[free]]

    # --- blocks of sub-cells in crossed cells ------------------------------------------

    def _make_blocks(self) -> None:
        crossed = np.flatnonzero(self._coarse.ravel() == _EDGE)
        self._block_cell = crossed  # sorted: a block's number is its place in this list
        self._coarse.ravel()[crossed] = _EDGE - np.arange(len(crossed), dtype=np.int32)
        self._fine = np.zeros((len(crossed), self._k, self._k), dtype=np.int32)
        self._find_candidates()

    def _find_candidates(self) -> None:
        # Every polygon whose envelope meets the (widened) cell: complete, since a
        # polygon covering a point of the cell has an envelope that meets it. Found
        # per envelope row by binary search in the sorted crossed cells, rather than
        # by asking a tree once per crossed cell.
        first, last = self._envelope_cells(shapely.bounds(self._polygons))
        rows = last[:, 1] - first[:, 1] + 1
        polygon = np.repeat(np.arange(len(first)), rows)
        row = first[polygon, 1] + np.arange(len(polygon)) - np.repeat(np.cumsum(rows) - rows, rows)
        nx = self._coarse.shape[1]
        low = np.searchsorted(self._block_cell, row * nx + first[polygon, 0])
        high = np.searchsorted(self._block_cell, row * nx + last[polygon, 0], side="right")
        counts = np.maximum(high - low, 0)
        polygon_i = np.repeat(polygon, counts)
        block_i = np.arange(len(polygon_i)) - np.repeat(np.cumsum(counts) - counts - low, counts)
        # Polygons come in order, so a stable sort by block keeps them ascending in each.
        order = np.argsort(block_i, kind="stable")
        self._candidates = polygon_i[order]
        per_block = np.bincount(block_i, minlength=len(self._block_cell))
        self._candidate_start = np.concatenate([[0], np.cumsum(per_block)])

    def _envelope_cells(self, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and last (col, row) of the cells each envelope may meet, clipped to the raster."""
        # Twice the widening of the cells makes up for rounding in the division.
        low = np.floor((bounds[:, :2] - 2 * EDGE_EPS_DEG - self._origin) / self._cell)
        high = np.floor((bounds[:, 2:] + 2 * EDGE_EPS_DEG - self._origin) / self._cell)
        limit = np.array(self._coarse.shape[::-1]) - 1
        first = np.clip(np.nan_to_num(low), 0, limit).astype(np.int64)
        last = np.clip(np.nan_to_num(high, nan=-1.0), -1, limit).astype(np.int64)
        return first, np.maximum(last, first - 1)  # an empty polygon spans no cell

    def _burn_fine(self, start: np.ndarray, end: np.ndarray) -> None:
        k = self._k
        for fy, fx in _touched_cells(start, end, self._origin, self._cell / k):
            # A crossed coarse cell holds _EDGE - its block's number (see _make_blocks).
            cell = (fy // k) * self._coarse.shape[1] + fx // k
            held = self._coarse.ravel().take(cell, mode="clip").astype(np.int64)
            # Every fine piece lies in coarse cells already marked, so each is crossed;
            # the mask only keeps a bug from writing into the wrong block.
            inside = held <= _EDGE
            sub_cell = (fy[inside] % k) * k + fx[inside] % k
            self._fine.ravel()[(_EDGE - held[inside]) * (k * k) + sub_cell] = _EDGE

    def _label_fine(self) -> None:
        free = self._fine != _EDGE
        regions, count = ndimage.label(free, structure=_FOUR_NEIGHBOURS_WITHIN_A_BLOCK)
        first = _one_cell_per_label(regions, count)
        block, sub_row, sub_col = np.unravel_index(first, self._fine.shape)
        x, y = self._sub_cell_centres(block, sub_row, sub_col)
        owner = np.concatenate([[NO_GRID], self._covering(x, y, block)])
        self._fine[free] = owner[regions[free]]

    def _sub_cell_centres(self, block, sub_row, sub_col) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = np.divmod(self._block_cell[block], self._coarse.shape[1])
        size = self._cell / self._k
        x = self._origin[0] + cols * self._cell + (sub_col + 0.5) * size
        y = self._origin[1] + rows * self._cell + (sub_row + 0.5) * size
        return x, y

    def _fine_labels(self, x, y, cell, block) -> np.ndarray:
        rows, cols = np.divmod(cell, self._coarse.shape[1])
        k = self._k
        sub_col = ((x - self._origin[0]) / self._cell - cols) * k
        sub_row = ((y - self._origin[1]) / self._cell - rows) * k
        sub_col = np.clip(sub_col, 0, k - 1).astype(np.intp)
        sub_row = np.clip(sub_row, 0, k - 1).astype(np.intp)
        return self._fine[block, sub_row, sub_col].astype(np.int64)

    def _covering(self, x: np.ndarray, y: np.ndarray, block: np.ndarray) -> np.ndarray:
        """Exact answer for points known to lie in these blocks, from their candidates."""
        first, last = self._candidate_start[block], self._candidate_start[block + 1]
        counts = last - first
        point = np.repeat(np.arange(len(x)), counts)
        offset = np.arange(len(point)) - np.repeat(np.cumsum(counts) - counts, counts)
        candidate = self._candidates[np.repeat(first, counts) + offset]
        hit = shapely.intersects_xy(self._polygons[candidate], x[point], y[point])
        return lowest_per_point(len(x), point[hit], candidate[hit])

    # --- distances outside -------------------------------------------------------------

    def build_distance_field(self) -> None:
        """Precompute, for every cell outside all polygons, the nearest polygon and distance."""
        occupied = self._coarse != NO_GRID
        owner_of_cell = np.where(self._coarse >= 0, self._coarse, self._block_owner())
        distance, (rows, cols) = ndimage.distance_transform_edt(
            ~occupied, sampling=(self._cell_m[1], self._cell_m[0]), return_indices=True
        )
        self._near_owner = owner_of_cell[rows, cols].astype(np.int32)
        self._near_distance = distance.astype(np.float32)

    def _block_owner(self) -> np.ndarray:
        # A crossed cell's owner for distance purposes: its lowest sub-cell owner,
        # or its lowest candidate when every sub-cell is crossed.
        sub = np.where(self._fine >= 0, self._fine, np.iinfo(np.int32).max).min(axis=(1, 2))
        fallback = self._candidates[self._candidate_start[:-1].clip(max=len(self._candidates) - 1)]
        owner = np.where(sub < np.iinfo(np.int32).max, sub, fallback)
        per_cell = np.full(self._coarse.shape, NO_GRID, dtype=np.int64)
        per_cell.ravel()[self._block_cell] = owner
        return per_cell


def _repair(polygons: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    # Predicates on invalid polygons are undefined in GEOS; validation reports
    # them, assignment uses their repaired form.
    polygons = np.asarray(polygons, dtype=object).copy()
    if len(invalid):
        polygons[invalid] = shapely.make_valid(polygons[invalid])
    return polygons


def _ring_segments(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ring edge once: an edge two neighbours share is burnt in once, not twice."""
    rings = shapely.get_rings(shapely.get_parts(polygons))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring[1:] == ring[:-1]
    start, end = coords[:-1][same_ring], coords[1:][same_ring]
    # Either direction marks the same cells, as the pieces are widened: keep one of each.
    backwards = (start[:, 0] > end[:, 0]) | ((start[:, 0] == end[:, 0]) & (start[:, 1] > end[:, 1]))
    start[backwards], end[backwards] = end[backwards], start[backwards].copy()
    # Hashing finds the repeats in one pass, where sorting the rows would cost more than
    # burning them twice.
    first_time = ~pd.DataFrame(np.hstack([start, end])).duplicated().to_numpy()
    return start[first_time], end[first_time]


def _touched_cells(start, end, origin, cell):
    """Yield (rows, cols) of the cells the widened pieces of these segments touch, in chunks."""
    for chunk in _segment_chunks(start, end, cell):
        low, high = _pieces(start[chunk], end[chunk], cell)
        first = np.floor((low - EDGE_EPS_DEG - origin) / cell).astype(np.int64)
        last = np.floor((high + EDGE_EPS_DEG - origin) / cell).astype(np.int64)
        # A piece is at most one cell long, so with the widening it spans ≤ 3 cells an axis.
        span = last - first + 1
        count = span[:, 0] * span[:, 1]
        piece = np.repeat(np.arange(len(first)), count)
        step = np.arange(len(piece)) - np.repeat(np.cumsum(count) - count, count)
        dy, dx = np.divmod(step, span[piece, 0])
        yield first[piece, 1] + dy, first[piece, 0] + dx


def _segment_chunks(start: np.ndarray, end: np.ndarray, cell: float) -> list[np.ndarray]:
    """Runs of segments cut into about :data:`_PIECES_PER_CHUNK` pieces each (bounded memory)."""
    pieces = np.maximum(np.ceil(np.abs(end - start).max(axis=1) / cell), 1)
    run = (np.cumsum(pieces) - pieces) // _PIECES_PER_CHUNK
    cuts = np.flatnonzero(np.diff(run)) + 1
    return np.split(np.arange(len(start)), cuts) if len(start) else []


def _pieces(start: np.ndarray, end: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    delta = end - start
    pieces = np.maximum(np.ceil(np.abs(delta).max(axis=1) / cell), 1).astype(np.int64)
    # The pieces' ends, each computed once: a piece's end is the next one's start.
    ends = pieces + 1
    segment = np.repeat(np.arange(len(start)), ends)
    step = np.arange(len(segment)) - np.repeat(np.cumsum(ends) - ends, ends)
    t = (step / pieces[segment])[:, None]
    points = start[segment] + delta[segment] * t
    starts_a_piece = step[:-1] < pieces[segment[:-1]]
    p0, p1 = points[:-1][starts_a_piece], points[1:][starts_a_piece]
    return np.minimum(p0, p1), np.maximum(p0, p1)


def _one_cell_per_label(regions: np.ndarray, count: int) -> np.ndarray:
    """For labels 1..count, the flat index of one cell carrying each (any one will do)."""
    flat = regions.ravel()
    cells = np.flatnonzero(flat)
    cell_of_label = np.zeros(count + 1, dtype=np.int64)
    cell_of_label[flat[cells]] = cells
    return cell_of_label[1:]


def lowest_per_point(count: int, point_i: np.ndarray, polygon_i: np.ndarray) -> np.ndarray:
    """For ``count`` points and (point, polygon) hit pairs, the lowest polygon per point or -1.

    Examples
    --------
    >>> lowest_per_point(3, np.array([0, 0, 2]), np.array([5, 3, 1]))
    array([ 3, -1,  1])
    """
    none = np.iinfo(np.int64).max
    lowest = np.full(count, none, dtype=np.int64)
    np.minimum.at(lowest, point_i, polygon_i)
    lowest[lowest == none] = NO_GRID
    return lowest


def _metres_per_degree(lon: float, lat: float) -> tuple[float, float]:
    geod = Geod(ellps="WGS84")
    _, _, east = geod.inv(lon - 0.005, lat, lon + 0.005, lat)
    _, _, north = geod.inv(lon, lat - 0.005, lon, lat + 0.005)
    return east / 0.01, north / 0.01
