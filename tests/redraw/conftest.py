"""Fixtures of the redraw tests: the sample district and a small hand-made ward district.

``ward_hierarchy`` is deliberately *not* the sample: other level keys
(district → ward → block → parcel), other codes ("D1", "D1-W1", "D1-W1-B1",
"D1-W1-B1-P1"), and every case the unit graph has rules for. Its shapes are laid
out in metres east and north of (117.0° E, 39.9° N), on the central meridian of a
Gauss-Krüger zone, so that the metric frame is the plain scale there.

Ward D1-W1, 620 m × 400 m plus an island (x → east, y → north, metres)::

    y 400 +------+------+------+--+------+------+------+
          | P7   | P8   | B2P4 |  | B3P3 | B3P6 | B3P9 |
      300 +-----:+------+------+ R+------+------+------+      island (B3P10, B3P11):
          | P5   :| P6  | B2P3 |  | B3P2 | B3P5 | B3P8 |      [700,760] × [130,190]
      200 +=====:+======+======+==+======+======+======+ road [760,820] × [130,190]
          | P3   ‖ P4   | B2P2 |  | B3P1 | B3P4 | B3P7 |
      100 +------‖------+------+  +------+------+------+
          | P1   ‖ P2   | B2P1 |  | B2P1 | B4P1 | B4P2 |  ‖ road along x = 100, y ≤ 200
        0 +------+------+------+--+------+------+------+  road along x = 620 (the outline)
          0     100    200    300 320   420    520    620

- block B1 = P1…P8 (x 0–200); P5 stops at x = 99.95: a 5 m² sliver gap to P6;
- block B2 = B2P1 (a MultiPolygon on both banks of the river R, x 300–320), B2P2…B2P4, R;
- block B3 = B3P1…B3P9 and the island B3P10, B3P11 (not touching the rest of the ward);
- block B4 = B4P1, B4P2; P1 and P4 touch only at a corner (100, 100);
- compound "X1" = B2P3 + B3P2 (split between blocks); "X2" = B3P4 + B3P7.
Ward D1-W2 (y 400–600) holds one block of two parcels, for units outside the parent.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, box

from geogrid import Hierarchy
from geogrid.models import Level

SAMPLE = "data/boundaries/sample.toml"
LON0, LAT0 = 117.0, 39.9
_GEOD = pyproj.Geod(ellps="WGS84")
#: Metres per degree of longitude and of latitude at the origin.
M_PER_DEG_LON = _GEOD.inv(LON0 - 0.0005, LAT0, LON0 + 0.0005, LAT0)[2] / 0.001
M_PER_DEG_LAT = _GEOD.inv(LON0, LAT0 - 0.0005, LON0, LAT0 + 0.0005)[2] / 0.001

COLUMNS = {0: (0, 100), 1: (100, 200), 2: (200, 300), 3: (320, 420), 4: (420, 520), 5: (520, 620)}
RIVER = (300, 320)


def to_lonlat(geometry):
    """A shape drawn in the ward's metres, in lon/lat."""
    scale = np.array([1 / M_PER_DEG_LON, 1 / M_PER_DEG_LAT])
    return shapely.transform(geometry, lambda xy: xy * scale + np.array([LON0, LAT0]))


def cell(col: int, row: int):
    x0, x1 = COLUMNS[col]
    return box(x0, row * 100, x1, row * 100 + 100)


def _parcels() -> list[dict]:
    def parcel(code, geometry, households, compound=None):
        block = code.rsplit("-", 1)[0]
        return {"code": code, "name": code.rsplit("-", 1)[1], "parent": block,
                "households": households, "compound": compound, "geometry": geometry}  # fmt: skip

    b1 = [cell(c, r) for r in range(4) for c in range(2)]
    b1[4] = box(0, 200, 99.95, 300)  # P5: the sliver gap to P6
    rows = [parcel(f"D1-W1-B1-P{i + 1}", g, 60) for i, g in enumerate(b1)]
    rows.append(parcel("D1-W1-B2-P1", MultiPolygon([cell(2, 0), cell(3, 0)]), 90))
    rows += [parcel(f"D1-W1-B2-P{r + 1}", cell(2, r), 70, "X1" if r == 2 else None)
             for r in (1, 2, 3)]  # fmt: skip
    rows.append(parcel("D1-W1-B2-R", box(*RIVER[:1], 0, RIVER[1], 400), 0))
    compounds = {2: "X1", 4: "X2", 7: "X2"}
    b3 = [(c, r) for c in (3, 4, 5) for r in (1, 2, 3)]
    rows += [parcel(f"D1-W1-B3-P{i}", cell(c, r), 50, compounds.get(i))
             for i, (c, r) in enumerate(b3, 1)]  # fmt: skip
    rows.append(parcel("D1-W1-B3-P10", box(700, 130, 760, 190), 20))
    rows.append(parcel("D1-W1-B3-P11", box(760, 130, 820, 190), 20))
    rows += [parcel("D1-W1-B4-P1", cell(4, 0), 80), parcel("D1-W1-B4-P2", cell(5, 0), 80)]
    rows += [parcel("D1-W2-B1-P1", box(0, 400, 310, 600), 150),
             parcel("D1-W2-B1-P2", box(310, 400, 620, 600), 150)]  # fmt: skip
    return rows


def _frame(rows: list[dict]) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
    frame["population"] = frame["households"] * 3
    return frame.set_geometry(to_lonlat(frame.geometry.to_numpy()), crs=4326)


def _dissolve(children: list[dict], shapes: dict[str, object], parent_of) -> list[dict]:
    rows = []
    for code, geometry in shapes.items():
        mine = [c for c in children if c["code"].startswith(code + "-")]
        households = sum(c["households"] for c in mine)
        rows.append({"code": code, "name": code, "parent": parent_of(code),
                     "households": households, "geometry": geometry})  # fmt: skip
    return rows


def ward_frames() -> dict[str, gpd.GeoDataFrame]:
    parcels = _parcels()
    blocks = _dissolve(parcels, {
        "D1-W1-B1": box(0, 0, 200, 400),
        "D1-W1-B2": shapely.union(box(200, 0, 320, 400), cell(3, 0)),
        "D1-W1-B3": MultiPolygon([box(320, 100, 620, 400), box(700, 130, 820, 190)]),
        "D1-W1-B4": box(420, 0, 620, 100),
        "D1-W2-B1": box(0, 400, 620, 600),
    }, lambda code: code.rsplit("-", 1)[0])  # fmt: skip
    wards = _dissolve(parcels, {
        "D1-W1": MultiPolygon([box(0, 0, 620, 400), box(700, 130, 820, 190)]),
        "D1-W2": box(0, 400, 620, 600),
    }, lambda code: "D1")  # fmt: skip
    districts = _dissolve(parcels, {"D1": shapely.union_all([box(0, 0, 620, 600),
                                                            box(700, 130, 820, 190)])},
                          lambda code: None)  # fmt: skip
    return {"district": _frame(districts), "ward": _frame(wards),
            "block": _frame(blocks), "parcel": _frame(parcels)}  # fmt: skip


def ward_roads() -> gpd.GeoDataFrame:
    lines = [LineString([(-10, 200), (630, 200)]), LineString([(100, 0), (100, 200)]),
             LineString([(620, -10), (620, 410)])]  # fmt: skip
    geometry = to_lonlat(np.array(lines, dtype=object))
    return gpd.GeoDataFrame({"name": ["环路", "一号路", "东路"]}, geometry=geometry, crs=4326)


def make_ward_hierarchy() -> Hierarchy:
    levels = [Level(key, label, "", "code", name="name", attributes=("households", "population"))
              for key, label in (("district", "区"), ("ward", "片区"), ("block", "街区"),
                                 ("parcel", "地块"))]  # fmt: skip
    return Hierarchy(levels, ward_frames(), name="ward test", roads=ward_roads())


@pytest.fixture(scope="session")
def sample() -> Hierarchy:
    """The sample district (read once)."""
    return Hierarchy.from_manifest(SAMPLE)


@pytest.fixture(scope="session")
def ward_hierarchy() -> Hierarchy:
    """The hand-made ward district of this module's docstring."""
    return make_ward_hierarchy()
