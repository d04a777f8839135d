"""Redraws in files: assignment CSV in and out, GIS exports, a whole manifest, a review map.

* :func:`write_assignment_csv` / :func:`read_assignment_csv`: the unit → grid
  table (``unit_code, grid, grid_name``), the block-equivalency file of redistricting
  tools; reading refuses missing columns, unknown units, blank grids and a unit
  listed in two grids, naming the CSV row;
* :func:`write_geopackage` (layers ``grids``, dissolved; ``assignment``, the units
  with their grid; ``changes``, a change log), :func:`write_geojson` (grids) and
  :func:`write_shapefile_zip` (grids, zipped);
* :func:`write_manifest`: every level of a hierarchy as layers of one GeoPackage
  plus a manifest that ``geogrid validate`` reads;
* :func:`write_review_pdf`: an A3 review map (old boundaries grey, new grids in
  colour with their codes, moved units hatched) and a change register.

``units`` is either a :class:`~geogrid.redraw.units.Units` or a GeoDataFrame with
``code`` and geometry (and numeric columns to sum, e.g. households).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geogrid.analysis.printmap import chinese_font
from geogrid.crs import metric_crs
from geogrid.errors import InputError
from geogrid.hierarchy import Hierarchy

ASSIGNMENT_COLUMNS = ("unit_code", "grid", "grid_name")
MANIFEST_NAME = "boundaries"
A3_LANDSCAPE_INCHES = (16.54, 11.69)
_ENCODINGS = ("utf-8-sig", "gb18030")
_HOW = {True: "调整 moved", False: "随网格重编 with its grid"}
_REGISTER_ROWS = 50  # rows per block of a register page (two blocks side by side)
_SHAPEFILE_FIELD = 10  # dBase field names are at most 10 characters


# --- assignment CSV --------------------------------------------------------------------------


def write_assignment_csv(
    assignment: Mapping[str, str], path: str | Path, *, names: Mapping[str, str] | None = None
) -> Path:
    """Write unit → grid as CSV ``unit_code, grid, grid_name`` (UTF-8), by unit code.

    Examples
    --------
    >>> import tempfile
    >>> out = write_assignment_csv({"u2": "new-1", "u1": "G1"}, f"{tempfile.mkdtemp()}/a.csv",
    ...                            names={"G1": "第1网格"})
    >>> print(out.read_text(encoding="utf-8").strip())
    unit_code,grid,grid_name
    u1,G1,第1网格
    u2,new-1,
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = assignment_table(assignment, names)
    table.to_csv(path, index=False, encoding="utf-8")
    return path


def assignment_table(
    assignment: Mapping[str, str], names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The assignment as a frame ``unit_code, grid, grid_name``, sorted by unit code."""
    names = names or {}
    units = sorted(str(unit) for unit in assignment)
    grids = [str(assignment[unit]) for unit in units]
    return pd.DataFrame(
        {"unit_code": units, "grid": grids, "grid_name": [names.get(g) for g in grids]},
        dtype=object,
    )


def read_assignment_csv(
    source: str | Path | bytes | io.IOBase, units: Any = None
) -> dict[str, str]:
    """Read a unit → grid CSV (see :func:`read_assignment_table`) as a mapping.

    Examples
    --------
    >>> read_assignment_csv(b"unit_code,grid\\nu1,G1\\nu2,new-1\\n")
    {'u1': 'G1', 'u2': 'new-1'}
    >>> read_assignment_csv(b"unit_code,grid\\nu1,G1\\nu1,G2\\n")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: CSV: a unit in two grids: u1 is in G1 (row 2) and G2 (row 3)
    """
    table = read_assignment_table(source, units)
    return dict(zip(table["unit_code"], table["grid"], strict=True))


def read_assignment_table(
    source: str | Path | bytes | io.IOBase, units: Any = None
) -> pd.DataFrame:
    """Read and check a unit → grid CSV; one row per unit: ``unit_code, grid, grid_name``.

    ``source`` is a path, the file's bytes or an open file; UTF-8 (with or without
    a BOM) and GB 18030 are read. ``units`` (unit codes, or a ``Units``) refuses
    codes that are not among them. Row numbers in messages are the file's lines
    (the header is row 1). A unit listed twice with the same grid is kept once.

    Examples
    --------
    >>> read_assignment_table("unit_code,grid,grid_name\\nu1,new-1,甲\\n".encode()).values.tolist()
    [['u1', 'new-1', '甲']]
    >>> read_assignment_table(b"unit,grid\\nu1,G1\\n")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: CSV: missing column(s) unit_code; columns are unit, grid
    """
    raw = _read_csv_text(source)
    missing = [c for c in ASSIGNMENT_COLUMNS[:2] if c not in raw.columns]
    if missing:
        raise InputError(
            f"CSV: missing column(s) {', '.join(missing)}; columns are {', '.join(raw.columns)}"
        )
    table = pd.DataFrame(
        {
            "unit_code": raw["unit_code"].str.strip(),
            "grid": raw["grid"].str.strip(),
            "grid_name": raw["grid_name"].str.strip() if "grid_name" in raw else "",
        }
    ).set_axis(raw.index + 2)  # file lines: the header is line 1
    _refuse_blanks(table)
    _refuse_unknown(table, units)
    table = _one_grid_per_unit(table)
    table["grid_name"] = table["grid_name"].replace("", None)
    return table.reset_index(drop=True)


def _read_csv_text(source: str | Path | bytes | io.IOBase) -> pd.DataFrame:
    data = source.read() if hasattr(source, "read") else source
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.is_file():
            raise InputError(f"CSV: file not found: {path}")
        data = path.read_bytes()
    if isinstance(data, str):
        data = data.encode("utf-8")
    for encoding in _ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        try:
            return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except pd.errors.ParserError as exc:
            raise InputError(f"CSV: cannot be read: {exc}") from None
        except pd.errors.EmptyDataError:
            raise InputError("CSV: the file is empty") from None
    raise InputError("CSV: neither UTF-8 nor GB 18030 text")


def _refuse_blanks(table: pd.DataFrame) -> None:
    blank_unit = table.index[table["unit_code"] == ""]
    if len(blank_unit):
        raise InputError(f"CSV row {blank_unit[0]}: unit_code is blank")
    blank = table[table["grid"] == ""]
    if len(blank):
        row = blank.index[0]
        more = f" (and {len(blank) - 1} more rows)" if len(blank) > 1 else ""
        unit = blank.loc[row, "unit_code"]
        raise InputError(f"CSV row {row}: unit {unit} has a blank grid{more}")


def _refuse_unknown(table: pd.DataFrame, units: Any) -> None:
    if units is None:
        return
    known = {str(code) for code in (units.codes if hasattr(units, "codes") else units)}
    unknown = table[~table["unit_code"].isin(known)]
    if len(unknown):
        row = unknown.index[0]
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise InputError(
            f"CSV row {row}: unit {unknown.loc[row, 'unit_code']} is not one of the units{more}"
        )


def _one_grid_per_unit(table: pd.DataFrame) -> pd.DataFrame:
    unique = table.drop_duplicates(["unit_code", "grid"])
    twice = unique[unique["unit_code"].duplicated(keep=False)]
    if len(twice):
        unit = twice["unit_code"].iloc[0]
        rows = twice[twice["unit_code"] == unit]
        places = " and ".join(f"{grid} (row {row})" for row, grid in rows["grid"].items())
        raise InputError(f"CSV: a unit in two grids: {unit} is in {places}")
    return unique


# --- GIS exports -----------------------------------------------------------------------------


def assignment_frame(
    units: Any, assignment: Mapping[str, str], names: Mapping[str, str] | None = None
) -> gpd.GeoDataFrame:
    """Units with their grid: ``unit_code, grid, grid_name``, numeric columns, geometry.

    Examples
    --------
    >>> from shapely import box
    >>> units = gpd.GeoDataFrame({"code": ["u1", "u2"], "households": [10, 20]},
    ...                          geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326)
    >>> assignment_frame(units, {"u1": "A", "u2": "B"}).columns.tolist()
    ['unit_code', 'grid', 'grid_name', 'households', 'geometry']
    """
    frame = _units_frame(units)
    unassigned = sorted(set(frame["code"]) - {str(u) for u in assignment})
    if unassigned:
        raise InputError(f"assignment: lacks {len(unassigned)} units, e.g. {unassigned[0]}")
    grids = frame["code"].map({str(u): str(g) for u, g in assignment.items()})
    numeric = [c for c in frame.columns.drop(["code", "geometry"]) if _numeric(frame[c])]
    names = dict(names or {})
    result = pd.DataFrame({"unit_code": frame["code"], "grid": grids,
                           "grid_name": [names.get(g) for g in grids]}, dtype=object)  # fmt: skip
    result = pd.concat([result, frame[numeric]], axis=1)
    return gpd.GeoDataFrame(result, geometry=frame.geometry.values, crs=4326)


def _units_frame(units: Any) -> gpd.GeoDataFrame:
    if isinstance(units, gpd.GeoDataFrame):
        if "code" not in units.columns:
            raise InputError("units: needs a 'code' column")
        frame = units.to_crs(4326) if units.crs is not None else units.set_crs(4326)
        return frame.assign(code=frame["code"].astype(str)).reset_index(drop=True)
    weights = units.weights.reset_index(drop=True)
    frame = pd.concat([pd.DataFrame({"code": [str(c) for c in units.codes]}), weights], axis=1)
    return gpd.GeoDataFrame(frame, geometry=list(units.geometry), crs=4326)


def grids_frame(
    units: Any, assignment: Mapping[str, str], names: Mapping[str, str] | None = None
) -> gpd.GeoDataFrame:
    """The grids dissolved from their units: ``grid, grid_name, units``, sums, geometry.

    Examples
    --------
    >>> from shapely import box
    >>> units = gpd.GeoDataFrame({"code": ["u1", "u2", "u3"], "households": [10, 20, 5]},
    ...     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)], crs=4326)
    >>> grids = grids_frame(units, {"u1": "A", "u2": "A", "u3": "B"}, {"A": "甲"})
    >>> grids.drop(columns="geometry").values.tolist()
    [['A', '甲', 2, 30], ['B', None, 1, 5]]
    >>> [shape.area for shape in grids.geometry]
    [2.0, 1.0]
    """
    assigned = assignment_frame(units, assignment, names)
    numeric = list(assigned.columns.drop([*ASSIGNMENT_COLUMNS, "geometry"]))
    groups = assigned.groupby("grid", sort=True)
    frame = pd.DataFrame({"grid_name": groups["grid_name"].first(),
                          "units": groups.size().astype(int)})  # fmt: skip
    frame = frame.join(groups[numeric].sum()).reset_index()
    shapes = [shapely.union_all(part.geometry.values) for _, part in groups]
    return gpd.GeoDataFrame(frame, geometry=shapes, crs=4326)


def write_geopackage(
    path: str | Path,
    units: Any,
    assignment: Mapping[str, str],
    *,
    names: Mapping[str, str] | None = None,
    changes: pd.DataFrame | None = None,
) -> Path:
    """A GeoPackage with ``grids`` (dissolved), ``assignment`` (units) and ``changes`` layers.

    ``changes`` is any table (the moves log, or ``Redraw.changes``); without it the
    layer is left out. An existing file is replaced.

    Examples
    --------
    >>> import tempfile
    >>> from shapely import box
    >>> units = gpd.GeoDataFrame({"code": ["u1", "u2"]}, geometry=[box(0, 0, 1, 1),
    ...                          box(1, 0, 2, 1)], crs=4326)
    >>> moves = pd.DataFrame({"unit_code": ["u2"], "from_grid": ["A"], "to_grid": ["B"]})
    >>> out = write_geopackage(f"{tempfile.mkdtemp()}/r.gpkg", units, {"u1": "A", "u2": "B"},
    ...                        changes=moves)
    >>> [name for name, _ in pyogrio.list_layers(out)]
    ['grids', 'assignment', 'changes']
    """
    path = _fresh(path)
    pyogrio.write_dataframe(grids_frame(units, assignment, names), path, layer="grids")
    pyogrio.write_dataframe(assignment_frame(units, assignment, names), path, layer="assignment")
    if changes is not None:
        pyogrio.write_dataframe(_plain(changes), path, layer="changes")
    return path


def write_geojson(
    path: str | Path,
    units: Any,
    assignment: Mapping[str, str],
    *,
    names: Mapping[str, str] | None = None,
) -> Path:
    """The dissolved grids as GeoJSON (RFC 7946, lon/lat).

    Examples
    --------
    >>> import tempfile
    >>> from shapely import box
    >>> units = gpd.GeoDataFrame({"code": ["u1"]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    >>> out = write_geojson(f"{tempfile.mkdtemp()}/g.geojson", units, {"u1": "A"})
    >>> json.loads(out.read_text())["features"][0]["properties"]["grid"]
    'A'
    """
    path = _fresh(path)
    frame = grids_frame(units, assignment, names)
    pyogrio.write_dataframe(frame, path, driver="GeoJSON", layer_options={"RFC7946": "YES"})
    return path


def write_shapefile_zip(
    path: str | Path,
    units: Any,
    assignment: Mapping[str, str],
    *,
    names: Mapping[str, str] | None = None,
    layer: str = "grids",
) -> Path:
    """The dissolved grids as a zipped Shapefile (UTF-8 ``.cpg``); long field names are cut.

    Examples
    --------
    >>> import tempfile
    >>> from shapely import box
    >>> units = gpd.GeoDataFrame({"code": ["u1"]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    >>> out = write_shapefile_zip(f"{tempfile.mkdtemp()}/g.zip", units, {"u1": "A"})
    >>> sorted(zipfile.ZipFile(out).namelist())
    ['grids.cpg', 'grids.dbf', 'grids.prj', 'grids.shp', 'grids.shx']
    """
    path = _fresh(path)
    frame = grids_frame(units, assignment, names)
    frame = frame.rename(columns=_short_names(frame.columns.drop("geometry")))
    with TemporaryDirectory() as folder:
        shp = Path(folder) / f"{layer}.shp"
        pyogrio.write_dataframe(frame, shp, encoding="UTF-8")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for member in sorted(Path(folder).iterdir()):
                archive.write(member, member.name)
    return path


def _short_names(columns: pd.Index) -> dict[str, str]:
    renamed: dict[str, str] = {}
    for column in columns:
        short, n = column[:_SHAPEFILE_FIELD], 1
        while short in renamed.values():
            tail = f"_{n}"
            short, n = column[: _SHAPEFILE_FIELD - len(tail)] + tail, n + 1
        renamed[column] = short
    return renamed


def _fresh(path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return path


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A table GDAL can write: object columns as text (None stays null), geometry untouched."""
    frame = frame.reset_index(drop=True)
    for column in frame.columns:
        if frame[column].dtype == object and not isinstance(frame[column], gpd.GeoSeries):
            frame[column] = frame[column].map(lambda v: None if v is None else str(v))
    return frame


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


# --- a whole hierarchy as a manifest ---------------------------------------------------------


def write_manifest(hierarchy: Hierarchy, out_dir: str | Path, *, name: str = MANIFEST_NAME) -> Path:
    """Write every level (and the roads) to ``<name>.gpkg`` and a manifest ``<name>.toml``.

    One layer per level, named by its key, with ``code, name, parent`` and the
    level's attributes; the roads, if any, in layer ``roads``. The manifest keeps
    the levels' keys, labels, attributes and coverage, the default level and the
    name, so ``geogrid validate`` and :meth:`Hierarchy.from_manifest` read it back.

    Examples
    --------
    >>> import tempfile
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> out = write_manifest(h, tempfile.mkdtemp())
    >>> back = Hierarchy.from_manifest(out)
    >>> back.levels == h.levels, back.default_level, back.level("building").coverage
    (True, 'grid', 'partial')
    >>> len(back.grids("building")) == len(h.grids("building")), len(back.roads()) > 0
    (True, True)
    """
    out_dir = Path(out_dir)
    gpkg = _fresh(out_dir / f"{name}.gpkg")
    tables = [_manifest_head(hierarchy)]
    for depth, key in enumerate(hierarchy.levels):
        frame = _level_frame(hierarchy, key, depth)
        pyogrio.write_dataframe(frame, gpkg, layer=key, promote_to_multi=True)
        tables.append(_level_table(hierarchy, key, depth, f"{gpkg.name}#{key}", frame))
    roads = hierarchy.roads()
    if roads is not None and len(roads):
        layer = _roads_layer(hierarchy.levels)
        pyogrio.write_dataframe(_plain(roads.to_crs(4326)), gpkg, layer=layer)
        tables.append(f"[roads]\npath = {_toml(f'{gpkg.name}#{layer}')}\n")
    manifest = out_dir / f"{name}.toml"
    manifest.write_text("\n".join(tables), encoding="utf-8")
    return manifest


def _manifest_head(hierarchy: Hierarchy) -> str:
    lines = ["# Written by geogrid.redraw.files.write_manifest."]
    if hierarchy.name:
        lines.append(f"name = {_toml(hierarchy.name)}")
    lines.append('crs = "EPSG:4326"')
    if any(hierarchy.level(key).default for key in hierarchy.levels):
        lines.append(f"default_level = {_toml(hierarchy.default_level)}")
    return "\n".join(lines) + "\n"


def _level_frame(hierarchy: Hierarchy, key: str, depth: int) -> gpd.GeoDataFrame:
    level, grids = hierarchy.level(key), hierarchy.grids(key)
    columns = ["code", "name"] + (["parent"] if depth else [])
    columns += [a for a in level.attributes if a in grids.columns and a not in columns]
    frame = pd.DataFrame({c: grids[c] if c in grids.columns else None for c in columns})
    frame = _plain(frame)
    return gpd.GeoDataFrame(frame, geometry=grids.geometry.values, crs=4326)


def _level_table(
    hierarchy: Hierarchy, key: str, depth: int, path: str, frame: gpd.GeoDataFrame
) -> str:
    level = hierarchy.level(key)
    lines = ["[[level]]", f"key = {_toml(key)}", f"label = {_toml(level.label)}",
             f"path = {_toml(path)}", 'code = "code"', 'name = "name"']  # fmt: skip
    if depth:
        lines.append('parent = "parent"')
    if level.coverage != "full":
        lines.append(f"coverage = {_toml(level.coverage)}")
    attributes = [a for a in level.attributes if a in frame.columns]
    if attributes:
        lines.append(f"attributes = [{', '.join(_toml(a) for a in attributes)}]")
    return "\n".join(lines) + "\n"


def _roads_layer(levels: list[str]) -> str:
    return "roads" if "roads" not in levels else "road_network"


def _toml(text: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes; \\u for control characters).
    return json.dumps(str(text), ensure_ascii=False)


# --- review map ------------------------------------------------------------------------------


def write_review_pdf(
    base: Hierarchy,
    redraw: Any,
    level: str,
    path: str | Path,
    *,
    title: str | None = None,
    as_of: date | None = None,
) -> Path:
    """An A3 landscape PDF to review a redraw: the map, then the change register.

    The map shows the redrawn parents: the old grids of ``level`` as thin grey
    lines, the new grids in colour labelled with their codes, and the units that
    changed grid hatched. The register pages list the unit moves and every code
    that changed (crosswalk rows other than ``kept``).

    Parameters
    ----------
    base : Hierarchy
        The generation the redraw started from.
    redraw : Redraw
        From :func:`geogrid.redraw.apply.apply_plans`.
    level : str
        The redrawn level.
    path : str or Path
        The ``.pdf`` to write.
    title : str, optional
        Defaults to "<district> <level label>调整审查图".
    as_of : date, optional
        Printed under the title.

    Examples
    --------
    >>> import tempfile
    >>> from geogrid.redraw.apply import apply_plans
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> units = h.grids("microgrid")
    >>> plan = dict.fromkeys(units.code[units.parent.str.startswith("330399001001")], "x")
    >>> redraw = apply_plans(h, "grid", {"330399001001": plan})
    >>> out = write_review_pdf(h, redraw, "grid", f"{tempfile.mkdtemp()}/review.pdf")
    >>> out.read_bytes()[:5]
    b'%PDF-'
    """
    # Deferred: matplotlib loads only when a map is drawn.
    from matplotlib import rc_context
    from matplotlib.backends.backend_pdf import PdfPages

    path = Path(path)
    if path.suffix.lower() != ".pdf":
        raise InputError(f"out: {path.name} must end in .pdf")
    if redraw.grids.empty:
        raise InputError("redraw: no parent was redrawn; there is nothing to review")
    title = title or f"{base.name or ''} {base.level(level).label}调整审查图".strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    with rc_context({"font.family": [chinese_font(), "DejaVu Sans"], "pdf.fonttype": 42}):
        pages = [_review_map(base, redraw, level, title, as_of)]
        unit_level = base.levels[base.levels.index(level) + 1]
        pages += _register_pages(redraw, [level, unit_level], title)
        with PdfPages(path, metadata={"Title": title, "Creator": "geogrid"}) as pdf:
            for page in pages:
                pdf.savefig(page)
    return path


def _review_map(base: Hierarchy, redraw: Any, level: str, title: str, as_of: date | None):
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    parents = set(redraw.grids["parent"]) if len(redraw.grids) else set()
    old, new, moved = _review_layers(base, redraw, level, parents)
    crs = metric_crs(float(np.mean(new.total_bounds[[0, 2]])))
    old, new, moved = old.to_crs(crs), new.to_crs(crs), moved.to_crs(crs)
    figure = Figure(figsize=A3_LANDSCAPE_INCHES)
    axes = figure.add_axes((0.03, 0.06, 0.74, 0.84))
    new.plot(ax=axes, color=_colours(len(new)), edgecolor="white", linewidth=0.6)
    if len(moved):  # a redraw that only renames or renumbers moves nothing to hatch
        moved.plot(ax=axes, facecolor="none", edgecolor="#222222", hatch="////", linewidth=0.3)
    old.boundary.plot(ax=axes, color="#888888", linewidth=0.6)
    new.boundary.plot(ax=axes, color="#111111", linewidth=1.2)
    size = 9 if len(new) <= 40 else 6
    for point, code in zip(new.geometry.representative_point(), new["code"], strict=True):
        axes.annotate(str(code), (point.x, point.y), ha="center", va="center", fontsize=size,
                      color="#111111")  # fmt: skip
    axes.set_aspect("equal")
    axes.set_axis_off()
    label = base.level(level).label
    handles = [Patch(facecolor="#dddddd", edgecolor="#111111", label=f"新{label} new"),
               Patch(facecolor="none", edgecolor="#888888", label=f"原{label} old"),
               Patch(facecolor="none", edgecolor="#222222", hatch="////",
                     label=f"调整单元 moved units ({len(moved)})")]  # fmt: skip
    figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.78, 0.85), fontsize=12,
                  title="图例 Legend", title_fontsize=12, frameon=False)  # fmt: skip
    _map_titles(figure, title, as_of, redraw, crs.name)
    return figure


def _review_layers(base: Hierarchy, redraw: Any, level: str, parents: set[str]):
    old, new = base.grids(level), redraw.hierarchy.grids(level)
    if parents - {""}:
        old = old[old["parent"].isin(parents)]
        new = new[new["parent"].isin(parents)]
    below = base.levels[base.levels.index(level) + 1]
    units = base.grids(below)
    moves = redraw.changes[redraw.changes["moved"]]
    moved = units[units["code"].isin(set(moves["unit_code"]))]
    return old, new.sort_values("code"), moved


def _colours(count: int) -> list:
    from matplotlib import colormaps

    palette = colormaps["tab20"].colors
    return [palette[(2 * i + (i // 10)) % 20] for i in range(count)]


def _map_titles(figure, title: str, as_of: date | None, redraw: Any, crs_name: str) -> None:
    figure.text(0.03, 0.95, title, fontsize=22, va="center")
    changes = redraw.codes["change"].value_counts()
    moved = int(redraw.changes["moved"].sum())
    summary = (f"调整单元 {moved} 个 units moved · 新编码 created "
               f"{int(changes.get('created', 0))} · 撤销 retired {int(changes.get('retired', 0))}"
               f" · 重编 renumbered {int(changes.get('renumbered', 0))}")  # fmt: skip
    if as_of is not None:
        summary = f"{as_of.year}年{as_of.month}月{as_of.day}日 · {summary}"
    figure.text(0.03, 0.91, summary, fontsize=12, va="center", color="#333333")
    figure.text(0.03, 0.025, f"坐标系 CRS: {crs_name} · 北向上 north up", fontsize=8,
                color="#555555")  # fmt: skip


def _register_pages(redraw: Any, levels: list[str], title: str) -> list:
    """The unit moves, and the changed codes of ``levels`` (deeper levels as counts)."""
    moves = redraw.changes.assign(moved=redraw.changes["moved"].map(_HOW))
    moves = moves.rename(columns={"unit_code": "单元 unit", "old_grid": "原网格 old",
                                  "new_grid": "新网格 new", "moved": "方式 how"})  # fmt: skip
    changed = redraw.codes[redraw.codes["change"] != "kept"]
    codes = changed[changed["level"].isin(levels)].fillna("—")
    codes = codes.rename(columns={"level": "层级 level", "old_code": "原编码 old",
                                  "new_code": "新编码 new", "change": "变更 change"})  # fmt: skip
    deeper = changed.loc[~changed["level"].isin(levels), "level"].value_counts(sort=False)
    note = "；".join(f"{level}: {n} 个编码重编 codes renumbered (codes.csv)"
                    for level, n in deeper.items())  # fmt: skip
    pages = _table_pages(moves, f"{title} · 单元调整登记 unit moves")
    return pages + _table_pages(codes, f"{title} · 编码对照 code crosswalk", note)


def _table_pages(table: pd.DataFrame, heading: str, note: str = "") -> list:
    """Pages of two blocks of rows each; a column of a block is one text (fast to draw)."""
    from matplotlib.figure import Figure

    per_page = 2 * _REGISTER_ROWS
    chunks = [table.iloc[i : i + per_page] for i in range(0, len(table), per_page)] or [table]
    pages = []
    for number, chunk in enumerate(chunks, 1):
        figure = Figure(figsize=A3_LANDSCAPE_INCHES)
        suffix = f" ({number}/{len(chunks)})" if len(chunks) > 1 else ""
        figure.text(0.03, 0.95, heading + suffix, fontsize=18, va="center")
        if chunk.empty:
            figure.text(0.03, 0.88, "无 none", fontsize=14)
        for block in range(2):
            rows = chunk.iloc[block * _REGISTER_ROWS : (block + 1) * _REGISTER_ROWS]
            if len(rows):
                _text_block(figure, rows, 0.03 + 0.48 * block)
        if note and number == len(chunks):
            figure.text(0.03, 0.025, note, fontsize=10, color="#333333")
        pages.append(figure)
    return pages


def _text_block(figure, rows: pd.DataFrame, left: float) -> None:
    widths = [max(len(str(c)), *(len(str(v)) for v in rows[c])) for c in rows.columns]
    x = left
    for column, width in zip(rows.columns, widths, strict=True):
        figure.text(x, 0.9, str(column), fontsize=10, va="top", color="#000000")
        body = "\n".join(str(v) for v in rows[column])
        figure.text(x, 0.875, body, fontsize=9, va="top", linespacing=1.55, color="#222222")
        x += 0.45 * (width + 2) / (sum(widths) + 2 * len(widths))
    figure.add_artist(_rule(figure, left, 0.88))


def _rule(figure, left: float, y: float):
    from matplotlib.lines import Line2D

    return Line2D([left, left + 0.45], [y, y], transform=figure.transFigure, color="#555555",
                  linewidth=0.6)  # fmt: skip
