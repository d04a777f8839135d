"""Reading GIS layers (GeoJSON, GeoPackage, Shapefile) into clean EPSG:4326 frames.

Every user mistake becomes a :class:`~geogrid.errors.LayerError` naming the
file, the level and the column, so the command line never shows a traceback.

Which CRS a file is read in:

1. a per-level ``crs`` in the manifest always wins (it is how a planner fixes
   a wrongly labelled file);
2. otherwise a file that declares a CRS of its own (a ``.prj``, a GeoPackage
   SRS) other than plain geographic WGS-84 is read in that CRS;
3. otherwise the manifest's ``crs`` applies (default WGS-84) — this is how
   GCJ-02 and BD-09 layers, which files can only label as WGS-84, are read.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj

from geogrid.crs import geometry_to_wgs84, normalize_crs
from geogrid.errors import CRSError, LayerError
from geogrid.manifest import LayerSource
from geogrid.models import Level

_POLYGONAL = {"Polygon", "MultiPolygon"}
_WGS84 = pyproj.CRS.from_epsg(4326)


def read_layer(source: LayerSource, what: str) -> gpd.GeoDataFrame:
    """Read one layer as it is in its file; ``what`` names it in error messages.

    Examples
    --------
    >>> from geogrid.manifest import load_manifest
    >>> m = load_manifest("data/boundaries/sample.toml")
    >>> len(read_layer(m.source(m.levels[0]), "level 'street'")) > 0
    True
    """
    if not source.file.exists():
        raise LayerError(f"{what}: file not found: {source.display}")
    try:
        frame = pyogrio.read_dataframe(source.file, layer=source.layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise LayerError(f"{what}: cannot read {source.display}: {exc}") from None
    if len(frame) == 0:
        raise LayerError(f"{what}: layer {source.display} is empty")
    if not isinstance(frame, gpd.GeoDataFrame):
        raise LayerError(f"{what}: {source.display} has no geometry column")
    return frame


def read_boundary_layer(
    source: LayerSource, level: Level, default_crs: str | None
) -> gpd.GeoDataFrame:
    """Read a level's polygons as ``code, name, parent, <attributes>, geometry`` in EPSG:4326.

    The frame's index is the row number in the file, which messages quote.

    Examples
    --------
    >>> from geogrid.manifest import load_manifest
    >>> m = load_manifest("data/boundaries/sample.toml")
    >>> streets = read_boundary_layer(m.source(m.levels[0]), m.levels[0], m.crs)
    >>> list(streets.columns)
    ['code', 'name', 'parent', 'households', 'population', 'geometry']
    """
    what = f"level '{level.key}' ({source.display})"
    frame = read_layer(source, what)
    _require_columns(frame, level, what)
    _require_polygons(frame, what)
    geometry = to_wgs84_geometry(frame, source.crs, default_crs, what)
    columns = {
        "code": _codes(frame[level.code], what, level.code),
        "name": _text(frame[level.name]) if level.name else pd.Series(None, index=frame.index),
        "parent": _optional_codes(frame[level.parent]) if level.parent else None,
    }
    columns.update({name: frame[name] for name in level.attributes})
    result = gpd.GeoDataFrame(columns, geometry=geometry, crs=_WGS84)
    result.index.name = "row"
    return result


def to_wgs84_geometry(
    frame: gpd.GeoDataFrame, override_crs: str | None, default_crs: str | None, what: str
) -> gpd.GeoSeries:
    """The frame's geometry in EPSG:4326, by the CRS rules of this module's docstring."""
    named = _parse_crs(override_crs or _declared_crs(frame) or default_crs or "WGS-84", what)
    if isinstance(named, str) and named != "WGS-84":
        converted = geometry_to_wgs84(frame.geometry.values, named)
        geometry = gpd.GeoSeries(converted, index=frame.index, crs=_WGS84)
    else:
        source_crs = _WGS84 if named == "WGS-84" else named
        geometry = frame.geometry.set_crs(source_crs, allow_override=True).to_crs(_WGS84)
    _require_lonlat_range(geometry, what)
    return geometry


def _declared_crs(frame: gpd.GeoDataFrame) -> pyproj.CRS | None:
    # Plain geographic WGS-84 is what every GeoJSON says, so it carries no
    # information about GCJ-02/BD-09 and must not override the manifest.
    crs = frame.crs
    if crs is None or crs.equals(_WGS84, ignore_axis_order=True):
        return None
    return crs


def _parse_crs(crs: str | pyproj.CRS, what: str) -> str | pyproj.CRS:
    if isinstance(crs, pyproj.CRS):
        return crs
    try:
        return normalize_crs(crs)
    except CRSError as exc:
        raise CRSError(f"{what}: {exc}") from None


def _require_lonlat_range(geometry: gpd.GeoSeries, what: str) -> None:
    west, south, east, north = geometry.total_bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise LayerError(
            f"{what}: coordinates {west:.6g}..{east:.6g}, {south:.6g}..{north:.6g} are not "
            "longitude/latitude after reading; set 'crs' for this level in the manifest"
        )


def _require_columns(frame: gpd.GeoDataFrame, level: Level, what: str) -> None:
    wanted = {"code": level.code, "name": level.name, "parent": level.parent}
    wanted.update({f"attributes[{i}]": a for i, a in enumerate(level.attributes)})
    for field, column in wanted.items():
        if column and column not in frame.columns:
            available = ", ".join(c for c in frame.columns if c != frame.geometry.name)
            raise LayerError(
                f"{what}: column '{column}' (manifest key '{field}') does not exist; "
                f"columns are: {available}"
            )


def _require_polygons(frame: gpd.GeoDataFrame, what: str) -> None:
    missing = frame.index[frame.geometry.isna()]
    if len(missing):
        raise LayerError(f"{what}: rows {_rows(missing)} have no geometry")
    kinds = frame.geom_type
    wrong = kinds[~kinds.isin(_POLYGONAL)]
    if len(wrong):
        found = ", ".join(sorted(set(wrong)))
        raise LayerError(
            f"{what}: boundary layers must hold polygons; rows {_rows(wrong.index)} are {found}"
        )


def _codes(values: pd.Series, what: str, column: str) -> pd.Series:
    codes = _optional_codes(values)
    blank = codes.index[codes.isna()]
    if len(blank):
        raise LayerError(f"{what}: column '{column}' is empty in rows {_rows(blank)}")
    return codes


def _optional_codes(values: pd.Series) -> pd.Series:
    """Codes as strings; integral floats (a code read from a numeric column) lose their '.0'."""
    if pd.api.types.is_float_dtype(values):
        whole = values.notna() & (values == np.floor(values))
        values = values.astype(object).where(~whole, values[whole].astype("int64"))
    text = values.astype(object).where(values.notna(), None)
    text = text.map(lambda v: None if v is None else str(v).strip() or None)
    return text.astype(object)


def _text(values: pd.Series) -> pd.Series:
    return (
        values.astype(object)
        .where(values.notna(), None)
        .map(lambda v: None if v is None else str(v))
    )


def _rows(index: pd.Index, limit: int = 5) -> str:
    shown = ", ".join(str(i) for i in index[:limit])
    return shown + (f" … ({len(index)} in all)" if len(index) > limit else "")
