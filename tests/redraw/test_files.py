"""Redraw files: assignment CSV both ways, GeoPackage/GeoJSON/Shapefile, manifests, review PDF."""

from __future__ import annotations

import io
import re
import zipfile

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from geogrid import Hierarchy
from geogrid.cli import main
from geogrid.errors import InputError
from geogrid.redraw.apply import apply_plans
from geogrid.redraw.compare import generation_assignment
from geogrid.redraw.files import (
    read_assignment_csv,
    read_assignment_table,
    write_assignment_csv,
    write_geojson,
    write_geopackage,
    write_manifest,
    write_review_pdf,
    write_shapefile_zip,
)
from geogrid.redraw.units import units_of

COMMUNITY = "330399001001"


@pytest.fixture(scope="module")
def units(sample):
    return units_of(sample, "grid", COMMUNITY)


@pytest.fixture(scope="module")
def draft(units):
    """Today's grids, with one unit moved to a new grid."""
    assignment = dict(zip(units.codes, units.current, strict=True))
    assignment[str(units.codes[0])] = "new-1"
    return assignment


@pytest.fixture(scope="module")
def redraw(sample, draft):
    return apply_plans(
        sample,
        "grid",
        {COMMUNITY: draft},
        names={COMMUNITY: {"new-1": "新一"}},
        exclusive={COMMUNITY: {"new-1"}},
    )


# --- CSV -------------------------------------------------------------------------------------


def test_csv_round_trip_keeps_units_grids_and_names(tmp_path, draft, units):
    path = write_assignment_csv(draft, tmp_path / "draft.csv", names={"new-1": "新一"})
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["unit_code", "grid", "grid_name"]
    assert frame.loc[frame["grid"] == "new-1", "grid_name"].tolist() == ["新一"]
    assert read_assignment_csv(path, units) == draft
    table = read_assignment_table(path.read_bytes())
    assert table.loc[table["grid"] == "new-1", "grid_name"].tolist() == ["新一"]


def test_csv_from_excel_in_gb18030_or_with_a_bom(draft):
    text = "unit_code,grid,grid_name\n" + "\n".join(f"{u},{g},网格" for u, g in draft.items())
    assert read_assignment_csv(io.BytesIO(text.encode("gb18030"))) == draft
    assert read_assignment_csv(text.encode("utf-8-sig")) == draft


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unit,grid\nu1,A\n", "CSV: missing column\\(s\\) unit_code; columns are unit, grid"),
        ("unit_code,name\nu1,A\n", "missing column\\(s\\) grid"),
        ("unit_code,grid\nu1,A\nu2,\nu3,\n", "CSV row 3: unit u2 has a blank grid \\(and 1 more"),
        ("unit_code,grid\n,A\n", "CSV row 2: unit_code is blank"),
        (
            "unit_code,grid\nu1,A\nu2,B\nu1,C\n",
            "a unit in two grids: u1 is in A \\(row 2\\) and C \\(row 4\\)",
        ),
        ("", "CSV: the file is empty"),
    ],
)
def test_bad_csv_names_the_problem_and_row(text, message):
    with pytest.raises(InputError, match=message):
        read_assignment_csv(text.encode())


def test_csv_units_must_be_known_and_may_repeat_with_one_grid(units):
    first = units.codes[0]
    with pytest.raises(InputError, match=r"CSV row 3: unit 999 is not one of the units"):
        read_assignment_csv(f"unit_code,grid\n{first},A\n999,B\n".encode(), units)
    assert read_assignment_csv(f"unit_code,grid\n{first},A\n{first},A\n".encode()) == {first: "A"}
    with pytest.raises(InputError, match="CSV: file not found"):
        read_assignment_csv("nowhere.csv")


# --- GIS exports -----------------------------------------------------------------------------


def test_geopackage_has_grids_assignment_and_changes(tmp_path, units, draft, redraw):
    path = write_geopackage(
        tmp_path / "r.gpkg", units, draft, names={"new-1": "新一"}, changes=redraw.changes
    )
    assert [name for name, _ in pyogrio.list_layers(path)] == ["grids", "assignment", "changes"]
    grids = gpd.read_file(path, layer="grids")
    assert sorted(grids["grid"]) == sorted(set(draft.values()))
    assert grids["households"].sum() == units.weights["households"].sum()
    assert grids.loc[grids["grid"] == "new-1", "grid_name"].tolist() == ["新一"]
    whole = shapely.union_all(grids.geometry.values)
    assert whole.area == pytest.approx(shapely.union_all(units.geometry).area, rel=1e-9)
    assignment = gpd.read_file(path, layer="assignment")
    assert dict(zip(assignment["unit_code"], assignment["grid"], strict=True)) == draft
    changes = pyogrio.read_dataframe(path, layer="changes")
    assert changes["unit_code"].tolist() == redraw.changes["unit_code"].tolist()


def test_geojson_and_zipped_shapefile_hold_the_grids(tmp_path, units, draft):
    names = {"new-1": "新一"}
    geojson = gpd.read_file(write_geojson(tmp_path / "g.geojson", units, draft, names=names))
    shp_zip = write_shapefile_zip(tmp_path / "g.zip", units, draft, names=names)
    assert {".shp", ".shx", ".dbf", ".prj", ".cpg"} == {
        re.sub(r"^.*(\.\w+)$", r"\1", n) for n in zipfile.ZipFile(shp_zip).namelist()
    }
    shapefile = gpd.read_file(f"zip://{shp_zip}")
    for frame in (geojson, shapefile):
        assert frame.crs.to_epsg() == 4326
        assert sorted(frame["grid"]) == sorted(set(draft.values()))
        assert frame.loc[frame["grid"] == "new-1", "grid_name"].tolist() == ["新一"]
    assert "households" in shapefile.columns and "population" in shapefile.columns


def test_exports_take_a_plain_frame_of_units(tmp_path, ward_hierarchy):
    parcels = ward_hierarchy.grids("parcel")
    assignment = generation_assignment(ward_hierarchy, "block")
    path = write_geojson(tmp_path / "blocks.geojson", parcels, assignment)
    blocks = gpd.read_file(path).set_index("grid")
    assert blocks.loc["D1-W1-B3", "units"] == 11
    with pytest.raises(InputError, match="assignment: lacks 1 units"):
        write_geojson(tmp_path / "x.geojson", parcels, dict(list(assignment.items())[1:]))


# --- manifests -------------------------------------------------------------------------------


def test_manifest_of_a_redraw_validates_and_reads_back(tmp_path, sample, redraw, capsys):
    manifest = write_manifest(redraw.hierarchy, tmp_path / "out")
    assert main(["validate", str(manifest)]) == 0
    assert "0 errors" in capsys.readouterr().out
    back = Hierarchy.from_manifest(manifest)
    assert back.levels == sample.levels and back.name == sample.name
    assert back.default_level == "grid" and back.level("building").coverage == "partial"
    assert back.level("grid").attributes == ("households", "population", "exclusive")
    assert back.level("microgrid").label == "微网格"
    for key in back.levels:
        written, expected = back.grids(key), redraw.hierarchy.grids(key)
        assert sorted(written["code"]) == sorted(expected["code"])
        assert written["households"].sum() == expected["households"].sum()
    grids = back.grids("grid").set_index("code")
    assert bool(grids.loc[redraw.code_of(COMMUNITY, "new-1"), "exclusive"])
    assert len(back.roads()) == len(sample.roads())
    assert [n for n, _ in pyogrio.list_layers(manifest.with_suffix(".gpkg"))] == [
        *sample.levels,
        "roads",
    ]


def test_manifest_of_a_hierarchy_without_default_or_roads(tmp_path, ward_hierarchy):
    frames = {key: ward_hierarchy.grids(key) for key in ward_hierarchy.levels}
    levels = [ward_hierarchy.level(key) for key in ward_hierarchy.levels]
    plain = Hierarchy(levels, frames)  # no name, no roads
    manifest = write_manifest(plain, tmp_path, name="ward")
    text = manifest.read_text(encoding="utf-8")
    assert (
        "default_level" not in text
        and "[roads]" not in text
        and "name =" not in text.split("[[level]]")[0]
    )
    back = Hierarchy.from_manifest(manifest)
    assert back.levels == ["district", "ward", "block", "parcel"]
    assert back.grids("parcel").set_index("code").loc["D1-W1-B2-P1"].geometry.geom_type == (
        "MultiPolygon"
    )
    assert main(["validate", str(manifest)]) == 1  # the ward's own 5 m² sliver gap


# --- review map ------------------------------------------------------------------------------


def test_review_pdf_has_the_map_and_the_register(tmp_path, sample, redraw):
    path = write_review_pdf(sample, redraw, "grid", tmp_path / "review.pdf", title="审查 review")
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 3  # map, unit moves, code crosswalk
    assert b"NotoSansCJK" in data or b"Noto" in data  # the Chinese font is embedded


def test_review_pdf_refuses_another_suffix(tmp_path, sample, redraw):
    with pytest.raises(InputError, match=r"out: review\.png must end in \.pdf"):
        write_review_pdf(sample, redraw, "grid", tmp_path / "review.png")
    with pytest.raises(InputError, match="no parent was redrawn"):
        write_review_pdf(sample, apply_plans(sample, "grid", {}), "grid", tmp_path / "r.pdf")
