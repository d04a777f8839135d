"""Tests for geogrid.topology: each builds a tiny hierarchy of squares near Wenzhou (120.65E, 28N).

Squares are given in metres east/north of the origin and converted to lon/lat with a local
scale, so adjacent squares share bit-identical coordinates as they would in a real layer.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Polygon

from geogrid.errors import CRSError, InputError
from geogrid.models import Level
from geogrid.topology import NOISE_FLOOR_M2, Issue, TopologyReport, validate_levels

LON0, LAT0 = 120.65, 28.0
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(LAT0))
GEOD = Geod(ellps="WGS84")

S1 = "330399001"
C1, C2 = "330399001001", "330399001002"


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    """A point x_m east and y_m north of the origin, in lon/lat."""
    return LON0 + x_m / M_PER_DEG_LON, LAT0 + y_m / M_PER_DEG_LAT


def square(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """The rectangle between two corners given in metres from the origin."""
    return Polygon([lonlat(x0, y0), lonlat(x1, y0), lonlat(x1, y1), lonlat(x0, y1)])


def geodesic_area(geom: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def level(key: str, coverage: str = "full") -> Level:
    return Level(key=key, label=key, path=f"{key}.geojson", code="code", coverage=coverage)


def layer(rows: list[tuple], index: list[int] | None = None) -> gpd.GeoDataFrame:
    """A level's GeoDataFrame from (code, parent, geometry) rows; the index is the file row."""
    codes, parents, geoms = zip(*rows, strict=True) if rows else ((), (), ())
    frame = {"code": list(codes), "name": [None] * len(codes), "parent": list(parents)}
    return gpd.GeoDataFrame(frame, geometry=list(geoms), crs="EPSG:4326", index=index)


def two_levels(children: list[tuple], **kwargs) -> TopologyReport:
    """Validate one 400 m street S1 over the given community rows."""
    grids = {"street": layer([(S1, None, square(0, 0, 400, 400))]), "community": layer(children)}
    return validate_levels([level("street"), level("community")], grids, **kwargs)


def kinds(report: TopologyReport) -> list[str]:
    return [issue.kind for issue in report.issues]


def only(report: TopologyReport, kind: str) -> Issue:
    matching = [issue for issue in report.issues if issue.kind == kind]
    assert len(matching) == 1, report.to_text()
    return matching[0]


def test_clean_three_level_hierarchy_has_no_issues():
    grids = {
        "street": layer([(S1, None, square(0, 0, 400, 400))]),
        "community": layer([(C1, S1, square(0, 0, 200, 400)), (C2, S1, square(200, 0, 400, 400))]),
        "grid": layer(
            [
                (C1 + "001", C1, square(0, 0, 200, 200)),
                (C1 + "002", C1, square(0, 200, 200, 400)),
                (C2 + "001", C2, square(200, 0, 400, 400)),
            ]
        ),
    }
    report = validate_levels([level("street"), level("community"), level("grid")], grids)
    assert report.ok
    assert report.issues == ()
    assert report.counts() == {}
    assert report.metric_crs == "EPSG:4549"
    assert "No problems found." in report.to_text()


def test_child_vertices_on_a_long_parent_edge_are_not_gaps():
    # Projected to Gauss-Krüger first, the 2 km edges bend away from the children's midpoint
    # vertices: ~42 m² of false gap and ~21 m² false overhang per child. In lon/lat it is exact.
    grids = {
        "street": layer([(S1, None, square(0, 0, 2000, 2000))]),
        "community": layer(
            [(C1, S1, square(0, 0, 1000, 2000)), (C2, S1, square(1000, 0, 2000, 2000))]
        ),
    }
    assert validate_levels([level("street"), level("community")], grids).issues == ()


def test_bow_tie_is_invalid_at_its_self_intersection_and_still_checked():
    bow_tie = Polygon([lonlat(0, 0), lonlat(400, 400), lonlat(400, 0), lonlat(0, 400)])
    report = two_levels([(C1, S1, bow_tie)])
    invalid = only(report, "invalid_geometry")
    assert invalid.severity == "error"
    assert invalid.codes == (C1,)
    assert "Self-intersection" in invalid.message and "row 0" in invalid.message
    assert invalid.location == pytest.approx(lonlat(200, 200), abs=1e-9)
    assert invalid.geometry.equals(bow_tie)
    # The repaired bow-tie (two triangles) leaves the top and bottom triangles uncovered.
    gaps = [issue for issue in report.issues if issue.kind == "gap"]
    assert [gap.area_m2 for gap in gaps] == pytest.approx([40_000, 40_000], rel=5e-3)


def test_empty_and_missing_geometry_are_errors():
    report = two_levels([(C1, S1, square(0, 0, 400, 400)), (C2, S1, Polygon()), ("x", S1, None)])
    empties = [issue for issue in report.issues if issue.kind == "empty_geometry"]
    assert [issue.codes for issue in empties] == [(C2,), ("x",)]
    assert all(issue.severity == "error" for issue in empties)


def test_duplicate_code_is_one_issue_listing_its_rows():
    halves = [(C1, S1, square(0, 0, 200, 400)), (C1, S1, square(200, 0, 400, 400))]
    grids = {
        "street": layer([(S1, None, square(0, 0, 400, 400))]),
        "community": layer(halves, [3, 7]),
    }
    report = validate_levels([level("street"), level("community")], grids)
    duplicate = only(report, "duplicate_code")
    assert duplicate.severity == "error"
    assert duplicate.codes == (C1,)
    assert "rows 3, 7" in duplicate.message
    assert kinds(report) == ["duplicate_code"]


def test_identical_duplicates_are_not_also_reported_as_overlaps():
    twice = [(C1, S1, square(0, 0, 400, 400)), (C1, S1, square(0, 0, 400, 400))]
    assert kinds(two_levels(twice)) == ["duplicate_code"]


def test_code_not_starting_with_parent_code_is_a_warning():
    report = two_levels([("440100001001", S1, square(0, 0, 400, 400))])
    prefix = only(report, "code_prefix")
    assert prefix.severity == "warning"
    assert prefix.codes == ("440100001001", S1)
    assert report.ok


@pytest.mark.parametrize("missing", [None, pd.NA, np.nan, ""])
def test_child_without_parent_is_an_orphan(missing):
    report = two_levels([(C1, S1, square(0, 0, 200, 400)), (C2, missing, square(200, 0, 400, 400))])
    orphan = only(report, "orphan")
    assert orphan.severity == "error"
    assert orphan.codes == (C2,)
    assert "has no street" in orphan.message


def test_child_naming_an_unknown_parent_is_an_orphan():
    report = two_levels(
        [(C1, S1, square(0, 0, 200, 400)), (C2, "330399009", square(200, 0, 400, 400))]
    )
    orphan = only(report, "orphan")
    assert orphan.codes == (C2, "330399009")
    assert "330399009, which does not exist" in orphan.message
    # Its street lost that half, so the gap is reported too.
    assert only(report, "gap").area_m2 == pytest.approx(80_000, rel=5e-3)


def test_overlapping_siblings_report_area_location_and_geometry():
    left, right = square(0, 0, 250, 400), square(200, 0, 400, 400)
    report = two_levels([(C1, S1, left), (C2, S1, right)])
    overlap = only(report, "overlap")
    expected = geodesic_area(shapely.intersection(left, right))
    assert overlap.area_m2 == pytest.approx(expected, rel=5e-3)
    assert overlap.area_m2 == pytest.approx(50 * 400, rel=5e-3)
    assert (overlap.severity, overlap.level, overlap.codes) == ("error", "community", (C1, C2))
    assert f"{C1} overlaps sibling {C2} by 20," in overlap.message
    assert shapely.Point(overlap.location).within(square(200, 0, 250, 400))
    assert overlap.geometry.equals(shapely.intersection(left, right))
    assert kinds(report) == ["overlap"]


def test_overlap_across_parents_names_both_parents():
    grids = {
        "street": layer(
            [(S1, None, square(0, 0, 200, 400)), ("330399002", None, square(200, 0, 400, 400))]
        ),
        "community": layer(
            [
                (C1, S1, square(0, 0, 250, 400)),
                ("330399002001", "330399002", square(250, 0, 400, 400)),
                ("330399002002", "330399002", square(200, 0, 250, 400)),
            ]
        ),
    }
    report = validate_levels([level("street"), level("community")], grids)
    overlap = only(report, "overlap")
    assert overlap.codes == (C1, "330399002002")
    assert "sibling" not in overlap.message
    assert f"parents {S1} and 330399002" in overlap.message
    assert only(report, "outside_parent").codes == (C1, S1)


def test_gaps_inside_a_parent_are_split_into_connected_parts():
    children = [
        (C1, S1, square(0, 0, 150, 400)),
        (C2, S1, square(200, 0, 300, 400)),
        ("330399001003", S1, square(350, 0, 400, 400)),
    ]
    report = two_levels(children)
    gaps = sorted(report.issues, key=lambda issue: issue.location)
    holes = [square(150, 0, 200, 400), square(300, 0, 350, 400)]
    assert kinds(report) == ["gap", "gap"]
    for gap, hole in zip(gaps, holes, strict=True):
        assert (gap.severity, gap.level, gap.codes) == ("error", "community", (S1,))
        assert gap.area_m2 == pytest.approx(geodesic_area(hole), rel=5e-3)
        assert shapely.Point(gap.location).within(hole)
        assert gap.geometry.equals(hole)
        assert gap.message.startswith(f"street {S1} has a gap of 20,")
        assert "not covered by any community near (120.6" in gap.message


def test_child_sticking_out_of_its_parent():
    children = [(C1, S1, square(0, 0, 200, 400)), (C2, S1, square(200, 0, 450, 400))]
    outside = only(two_levels(children), "outside_parent")
    assert outside.codes == (C2, S1)
    assert outside.area_m2 == pytest.approx(geodesic_area(square(400, 0, 450, 400)), rel=5e-3)
    assert shapely.Point(outside.location).within(square(400, 0, 450, 400))
    assert f"{C2} sticks out of its parent {S1} by" in outside.message


def test_sliver_overlap_is_a_warning_until_sliver_m2_is_lowered():
    # 2 mm x 400 m = 0.8 m²: below the default 1 m² threshold.
    children = [(C1, S1, square(0, 0, 200.002, 400)), (C2, S1, square(200, 0, 400, 400))]
    sliver = only(two_levels(children), "overlap")
    assert sliver.severity == "warning"
    assert sliver.area_m2 == pytest.approx(0.8, rel=0.01)
    assert two_levels(children).ok
    strict = two_levels(children, sliver_m2=0.5)
    assert only(strict, "overlap").severity == "error"
    assert not strict.ok


def test_noise_below_the_floor_is_dropped_but_a_micro_sliver_is_a_warning():
    def split_triangle(shift_deg: float) -> TopologyReport:
        a, b, c = lonlat(0, 0), lonlat(400, 0), lonlat(400, 300)
        mid = ((a[0] + c[0]) / 2, (a[1] + c[1]) / 2 - shift_deg)  # pulled inside the parent
        grids = {
            "street": layer([(S1, None, Polygon([a, b, c]))]),
            "community": layer([(C1, S1, Polygon([a, b, mid])), (C2, S1, Polygon([b, c, mid]))]),
        }
        return validate_levels([level("street"), level("community")], grids)

    assert split_triangle(1e-14).issues == ()  # about a nanometre off the edge
    micro = only(split_triangle(1e-11), "gap")  # about a micrometre
    assert NOISE_FLOOR_M2 < micro.area_m2 < 1.0
    assert micro.severity == "warning"


def test_parent_without_children_is_a_childless_warning():
    grids = {
        "street": layer(
            [(S1, None, square(0, 0, 400, 400)), ("330399002", None, square(400, 0, 800, 400))]
        ),
        "community": layer([(C1, S1, square(0, 0, 400, 400))]),
    }
    report = validate_levels([level("street"), level("community")], grids)
    childless = only(report, "childless")
    assert (childless.severity, childless.codes) == ("warning", ("330399002",))
    assert childless.area_m2 == pytest.approx(160_000, rel=5e-3)
    assert report.ok


def test_partial_coverage_level_skips_gap_checks_but_not_nesting():
    grids = {
        "street": layer(
            [(S1, None, square(0, 0, 400, 400)), ("330399002", None, square(400, 0, 800, 400))]
        ),
        "building": layer(
            [("00001", S1, square(10, 10, 30, 30)), ("00002", S1, square(390, 10, 410, 30))]
        ),
    }
    report = validate_levels([level("street"), level("building", "partial")], grids)
    assert "gap" not in kinds(report) and "childless" not in kinds(report)
    outside = only(report, "outside_parent")
    assert outside.codes == ("00002", S1)
    assert outside.area_m2 == pytest.approx(200, rel=5e-3)


def test_hole_enclosed_between_top_level_grids_is_a_district_gap():
    streets = [
        ("A", None, square(0, 0, 300, 100)),
        ("B", None, square(300, 0, 400, 300)),
        ("C", None, square(100, 300, 400, 400)),
        ("D", None, square(0, 100, 100, 400)),
    ]
    report = validate_levels([level("street")], {"street": layer(streets)})
    gap = only(report, "gap")
    assert gap.codes == ("A", "B", "C", "D")
    assert gap.area_m2 == pytest.approx(geodesic_area(square(100, 100, 300, 300)), rel=5e-3)
    assert gap.message.startswith("district has a gap of")


def test_issues_sort_errors_first_then_level_order():
    report = TopologyReport(
        issues=(
            Issue("code_prefix", "warning", "community", ("b",), "w"),
            Issue("gap", "error", "community", ("a",), "g"),
            Issue("overlap", "error", "street", ("x", "y"), "o"),
            Issue("orphan", "error", "community", ("c",), "r"),
        ),
        levels=("street", "community"),
    )
    assert [issue.message for issue in report.issues] == ["o", "r", "g", "w"]
    assert len(report.errors) == 3 and len(report.warnings) == 1
    assert report.counts()["gap"] == {"error": 1, "warning": 0}


def test_to_text_groups_by_level_and_caps_long_kinds():
    overlaps = [Issue("overlap", "error", "grid", (f"g{i:03}",), f"overlap {i}") for i in range(5)]
    report = TopologyReport(
        issues=(*overlaps, Issue("gap", "warning", "street", ("s",), "gap s")),
        levels=("street", "grid"),
        metric_crs="EPSG:4549",
    )
    text = report.to_text(max_per_kind=3)
    lines = text.splitlines()
    assert lines[0].startswith("Topology of 2 levels (street, grid): 5 errors, 1 warning")
    assert lines[1] == "street: 0 errors, 1 warning"
    assert lines[3] == "grid: 5 errors, 0 warnings"
    assert "overlap 2" in text and "overlap 3" not in text
    assert lines[-1] == "  … and 2 more overlap issues"


def test_to_json_is_parseable_and_complete():
    children = [(C1, S1, square(0, 0, 250, 400)), (C2, S1, square(200, 0, 400, 400))]
    data = json.loads(two_levels(children).to_json())
    assert data["ok"] is False
    assert data["sliver_m2"] == 1.0
    assert data["summary"] == {
        "errors": 1,
        "warnings": 0,
        "by_kind": {"overlap": {"error": 1, "warning": 0}},
    }
    (issue,) = data["issues"]
    assert issue["codes"] == [C1, C2]
    assert issue["geometry"]["type"] == "Polygon"
    assert len(issue["location"]) == 2


def test_write_geojson_reads_back_in_qgis_terms(tmp_path):
    children = [
        (C1, S1, square(0, 0, 250, 400)),
        (C2, S1, square(200, 0, 350, 400)),
        (C2, S1, square(380, 0, 400, 400)),
    ]
    report = two_levels(children)
    path = report.write_geojson(tmp_path / "issues.geojson")
    back = gpd.read_file(path)
    assert back.crs.to_epsg() == 4326
    assert list(back["kind"]) == ["duplicate_code", "overlap", "gap"] == kinds(report)
    assert list(back["codes"]) == [C2, f"{C1},{C2}", S1]
    assert list(back["severity"]) == ["error"] * 3
    # duplicate_code has no geometry of its own: it is drawn as a point at its location.
    assert list(back.geom_type) == ["Point", "Polygon", "Polygon"]
    assert back["area_m2"].iloc[2] == pytest.approx(30 * 400, rel=5e-3)


def test_write_geojson_with_no_issues_is_an_empty_feature_collection(tmp_path):
    path = TopologyReport(issues=(), levels=("street",)).write_geojson(tmp_path / "none.geojson")
    data = json.loads(path.read_text())
    assert data["type"] == "FeatureCollection" and data["features"] == []
    assert len(gpd.read_file(path)) == 0


def test_bad_input_is_refused_with_a_clear_error():
    street = layer([(S1, None, square(0, 0, 400, 400))])
    with pytest.raises(InputError, match="community"):
        validate_levels([level("street"), level("community")], {"street": street})
    with pytest.raises(CRSError, match="EPSG:4326"):
        validate_levels([level("street")], {"street": street.to_crs(4549)})
    with pytest.raises(InputError, match="parent"):
        no_parent = layer([(C1, S1, square(0, 0, 400, 400))]).drop(columns="parent")
        validate_levels(
            [level("street"), level("community")], {"street": street, "community": no_parent}
        )
    with pytest.raises(InputError, match="sliver_m2"):
        validate_levels([level("street")], {"street": street}, sliver_m2=-1)
