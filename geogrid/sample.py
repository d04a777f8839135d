"""Generated reports for the sample district: for demos, the served sample and benchmarks.

Reports cluster where trouble gathers in a real district (a few hot spots: an
old neighbourhood, a market street, a night-life block) over an even
background, with the mix of categories and sources of an urban street office.
Deterministic: the same seed gives the same reports.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from geogrid.categories import CategoryTree
from geogrid.hierarchy import Hierarchy
from geogrid.reports import NewReport

#: Share of reports around hot spots; the rest fall evenly over the district.
CLUSTERED = 0.6
_SOURCES = (("grid_worker", 0.45), ("resident", 0.25), ("hotline", 0.2), ("patrol", 0.07),
            ("sensor", 0.03))  # fmt: skip
_DESCRIPTIONS = {
    "dispute": "邻里之间因噪音、漏水、停车发生争执",
    "safety": "发现安全隐患，需要尽快排查",
    "public_order": "群众反映治安问题",
    "fire": "消防通道被杂物、车辆占用",
    "city": "垃圾堆放、占道经营影响市容",
}


def sample_reports(
    hierarchy: Hierarchy, count: int, seed: int = 2026, end: datetime | None = None
) -> list[NewReport]:
    """``count`` reports over the district, reported in the 90 days before ``end``.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> reports = sample_reports(h, 3)
    >>> len(reports), reports[0].external_id
    (3, 'sample-2026-0')
    """
    rng = np.random.default_rng(seed)
    lon, lat = _locations(hierarchy, count, rng)
    codes = [c.code for c in CategoryTree.default()]
    category = rng.choice(codes, count)
    names, weights = zip(*_SOURCES, strict=True)
    source = rng.choice(names, count, p=weights)
    end = end or datetime.now(UTC)
    minutes = rng.integers(0, 90 * 24 * 60, count)
    return [
        NewReport(category=str(category[i]), lon=float(lon[i]), lat=float(lat[i]),
                  source=str(source[i]), reported_at=end - timedelta(minutes=int(minutes[i])),
                  description=_DESCRIPTIONS[str(category[i]).split(".")[0]],
                  external_id=f"sample-{seed}-{i}")
        for i in range(count)
    ]  # fmt: skip


def _locations(hierarchy: Hierarchy, count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    west, south, east, north = hierarchy.grids(hierarchy.levels[0]).total_bounds
    lon, lat = _inside(hierarchy, rng, (west, south, east, north), count)
    hot = rng.random(count) < CLUSTERED
    centres = np.column_stack(_inside(hierarchy, rng, (west, south, east, north), 5))
    which = rng.integers(0, len(centres), hot.sum())
    spread = 0.0015 * (1 + rng.random(len(centres)))  # ~150–300 m
    lon[hot] = centres[which, 0] + rng.normal(0, 1, hot.sum()) * spread[which]
    lat[hot] = centres[which, 1] + rng.normal(0, 1, hot.sum()) * spread[which]
    return lon, lat


def _inside(hierarchy: Hierarchy, rng, bounds, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points inside the district (the bounding box has corners outside it)."""
    west, south, east, north = bounds
    lon, lat = np.empty(0), np.empty(0)
    while len(lon) < count:
        x, y = rng.uniform(west, east, count), rng.uniform(south, north, count)
        inside = (hierarchy.assign(x, y)["status"] == "assigned").to_numpy()
        lon, lat = np.concatenate([lon, x[inside]]), np.concatenate([lat, y[inside]])
    return lon[:count], lat[:count]
