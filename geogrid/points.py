"""Reading point files (CSV or any point layer) and writing them back with their grids.

CSV files keep every value exactly as written (read as text), so an assigned
file round-trips whatever the intake system put in it. Chinese spreadsheets are
often saved as GBK; such files are read too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from geogrid.errors import InputError, LayerError
from geogrid.layers import read_layer, to_wgs84_geometry
from geogrid.manifest import LayerSource, split_layer_path

_CSV_SUFFIXES = {".csv", ".txt"}
_OUTPUT_DRIVERS = {".csv": None, ".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}
_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass
class PointTable:
    """Rows as read, and each row's coordinates (as received, and the CRS they are in)."""

    rows: pd.DataFrame
    x: np.ndarray
    y: np.ndarray
    crs: str


def read_points(
    path: str | Path, lon: str = "lon", lat: str = "lat", crs: str | None = None
) -> PointTable:
    """Read a CSV with lon/lat columns, or a point layer (GeoJSON, GeoPackage, Shapefile).

    For CSV, ``crs`` defaults to WGS-84; for a layer, to the layer's own CRS.
    Unparseable coordinates become NaN (and so "unassigned"), never an error.

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "p.csv")
    >>> _ = open(f, "w").write("id,lon,lat\\n7,120.65,28.01\\n8,oops,28\\n")
    >>> table = read_points(f)
    >>> table.rows["id"].tolist(), table.x.tolist()[1]
    (['7', '8'], nan)
    """
    path = Path(path)
    if Path(str(path).partition("#")[0]).suffix.lower() in _CSV_SUFFIXES:
        return _read_csv(path, lon, lat, crs or "WGS-84")
    return _read_point_layer(path, crs)


def _read_csv(path: Path, lon: str, lat: str, crs: str) -> PointTable:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    rows = _read_csv_text(path)
    for role, column in (("--lon", lon), ("--lat", lat)):
        if column not in rows.columns:
            raise InputError(
                f"{path}: no column '{column}' for {role}; columns are: {', '.join(rows.columns)}"
            )
    x = pd.to_numeric(rows[lon].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    y = pd.to_numeric(rows[lat].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    return PointTable(rows, x, y, crs)


def _read_csv_text(path: Path) -> pd.DataFrame:
    for encoding in _ENCODINGS:
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"{path}: not a readable CSV file: {exc}") from None
    raise InputError(f"{path}: text is neither UTF-8 nor GBK")


def _read_point_layer(path: Path, crs: str | None) -> PointTable:
    file, layer = split_layer_path(Path.cwd(), str(path))
    what = f"points ({path})"
    frame = read_layer(LayerSource(file, layer, crs), what)
    kinds = set(frame.geom_type.dropna())
    if kinds - {"Point"}:
        raise LayerError(f"{what}: must hold points, found {', '.join(sorted(kinds))}")
    if crs is None:
        geometry = to_wgs84_geometry(frame, None, None, what)
        return PointTable(frame, geometry.x.to_numpy(), geometry.y.to_numpy(), "WGS-84")
    return PointTable(frame, frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy(), crs)


def write_assigned(table: PointTable, assigned: pd.DataFrame, lon, lat, out: str | Path) -> None:
    """Write every input row and column plus the assignment columns; format by suffix.

    CSV keeps the rows as read; GeoJSON and GeoPackage carry a WGS-84 point per
    row (``lon``/``lat`` are the WGS-84 coordinates the assignment used).
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in _OUTPUT_DRIVERS:
        raise InputError(f"{out}: output must end in {', '.join(_OUTPUT_DRIVERS)}")
    rows = (
        table.rows.drop(columns=[table.rows.geometry.name], errors="ignore")
        if isinstance(table.rows, gpd.GeoDataFrame)
        else table.rows
    )
    rows = rows.drop(columns=[c for c in assigned.columns if c in rows.columns])
    combined = pd.concat([rows.reset_index(drop=True), assigned.reset_index(drop=True)], axis=1)
    if _OUTPUT_DRIVERS[suffix] is None:
        combined.to_csv(out, index=False)
        return
    geometry = gpd.points_from_xy(lon, lat, crs=pyproj.CRS.from_epsg(4326))
    geometry[~(np.isfinite(lon) & np.isfinite(lat))] = None  # no "NaN" in GeoJSON
    for column in assigned.select_dtypes("category").columns:
        combined[column] = combined[column].astype(object)
    gpd.GeoDataFrame(combined, geometry=geometry).to_file(out, driver=_OUTPUT_DRIVERS[suffix])
