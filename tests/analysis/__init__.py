"""Tests of geogrid.analysis: hand-made districts, reports and hazards built in memory."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point

from geogrid import Hierarchy, Level
from tests.conftest import SOUTH, STEP, WEST, tiny_grids, tiny_streets

CHINA_TIME = ZoneInfo("Asia/Shanghai")
#: The moment the tests look from: the recent window is the 30 days before it.
AS_OF = datetime(2026, 11, 24, tzinfo=CHINA_TIME)


def tiny_hierarchy() -> Hierarchy:
    """Two streets ("1" west, "2" east), each of 2 × 2 grids of 400 households (101 … 204)."""
    streets = tiny_streets().assign(parent=None)
    grids = tiny_grids().rename(columns={"street": "parent"})
    levels = [Level("street", "街道", "", "code"), Level("grid", "网格", "", "code")]
    return Hierarchy(levels, {"street": streets, "grid": grids}, name="小区")


def centre(code: str) -> tuple[float, float]:
    """Centre of a tiny grid, e.g. "101" (street 1, south-west) or "204"."""
    street, number = int(code[0]), int(code[-1]) - 1
    column, row = number // 2, number % 2
    return WEST + (2 * (street - 1) + column + 0.5) * STEP, SOUTH + (row + 0.5) * STEP


def reports(where: dict[str, int], category: str = "dispute.neighbour", days_ago: float = 3):
    """A points frame: ``where[code]`` reports at the centre of each grid, ``days_ago``."""
    rows = []
    for code, count in where.items():
        lon, lat = centre(code)
        rows += [(lon, lat, AS_OF - timedelta(days=days_ago), category)] * count
    frame = pd.DataFrame(rows, columns=["lon", "lat", "time", "category"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame.astype({"lon": float, "lat": float})


def hazards(*rows: tuple) -> gpd.GeoDataFrame:
    """Hazards from (name, lon, lat, method, scores, radius_m) rows."""
    names, lon, lat, method, scores, radius = zip(*rows, strict=True) if rows else ([],) * 6
    return gpd.GeoDataFrame(
        {"name": list(names), "method": list(method), "scores": list(scores),
         "radius_m": list(radius)},
        geometry=[Point(x, y) for x, y in zip(lon, lat, strict=True)], crs=4326,
    )  # fmt: skip


def random_points(n: int, bounds, seed: int = 1, days: int = 60) -> pd.DataFrame:
    """``n`` reports uniform over ``bounds`` in the ``days`` before AS_OF."""
    rng = np.random.default_rng(seed)
    west, south, east, north = bounds
    minutes = rng.integers(0, days * 24 * 60, n)
    return pd.DataFrame({
        "lon": rng.uniform(west, east, n), "lat": rng.uniform(south, north, n),
        "time": pd.Timestamp(AS_OF) - pd.to_timedelta(minutes, unit="min"),
        "category": "dispute.neighbour",
    })  # fmt: skip


RED_LEC = {"L": 6, "E": 6, "C": 15}  # D = 540
ORANGE_LEC = {"L": 3, "E": 6, "C": 15}  # D = 270
YELLOW_MATRIX = {"L": 2, "S": 3}  # R = 6
