"""Kernel density, its PNG overlay, H3 hexagons, per-grid counts and animations."""

from __future__ import annotations

import io
import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from geogrid.analysis.heat import (
    Raster,
    grid_counts,
    hexagon_slices,
    hexagons,
    kde_frames,
    kde_raster,
    render_png,
    time_slices,
)
from geogrid.errors import InputError
from tests.analysis import AS_OF, reports, tiny_hierarchy

VIEW = (120.60, 27.97, 120.70, 28.05)  # about 9.8 km × 8.9 km


def cluster(n: int, seed: int = 3, spread_deg: float = 0.004):
    rng = np.random.default_rng(seed)
    return 120.65 + rng.normal(0, spread_deg, n), 28.01 + rng.normal(0, spread_deg, n)


@pytest.mark.parametrize("kernel", ["gaussian", "quartic"])
@pytest.mark.parametrize("bandwidth_m", [15.0, 100.0, 400.0, 1500.0])
def test_the_density_integrates_to_the_event_count(kernel, bandwidth_m):
    lon, lat = cluster(5000)
    half = (5 * bandwidth_m + 1500) / 98_000  # degrees: the kernel's reach around the cluster
    view = (120.65 - half, 28.01 - half, 120.65 + half, 28.01 + half)
    raster = kde_raster(lon, lat, view, (400, 300), bandwidth_m, kernel)
    assert raster.values.shape == (300, 400)
    assert raster.total() == pytest.approx(5000, rel=2e-3)
    assert raster.values.min() >= 0


def test_weights_count_as_events():
    lon, lat = cluster(100)
    raster = kde_raster(lon, lat, VIEW, (200, 150), 200.0, weights=np.full(100, 2.5))
    assert raster.total() == pytest.approx(250, rel=2e-3)


@pytest.mark.parametrize(
    ("kernel", "peak_per_km2"),
    [("gaussian", 1 / (2 * math.pi * 0.1**2)), ("quartic", 3 / (math.pi * 0.1**2))],
)
def test_one_point_gives_the_kernel_in_metres(kernel, peak_per_km2):
    view = (120.64, 28.0, 120.66, 28.02)
    raster = kde_raster([120.65], [28.01], view, (400, 400), 100.0, kernel)
    assert raster.values.max() == pytest.approx(peak_per_km2, rel=0.03)
    rows, columns = np.indices(raster.values.shape) + 0.5  # pixel centres
    weight = raster.values / raster.values.sum()
    assert (weight * rows).sum() == pytest.approx(200, abs=0.3)  # lat 28.01: the middle
    assert (weight * columns).sum() == pytest.approx(200, abs=0.3)
    # 300 m east of the point a quartic kernel of 100 m is zero; a Gaussian nearly so.
    pixel_m = 0.02 / 400 * 98_200
    assert raster.values[200, 200 + round(300 / pixel_m)] < peak_per_km2 * 0.012


def test_points_just_outside_the_view_warm_its_edge_and_far_ones_do_not():
    view = (120.64, 28.0, 120.66, 28.02)
    near = kde_raster([120.6605], [28.01], view, (200, 200), 200.0)
    far = kde_raster([120.70], [28.01], view, (200, 200), 200.0)
    assert near.values[:, -1].max() > 0 and 0.3 < near.total() < 0.7
    assert far.total() == 0


def test_no_points_give_a_zero_raster_and_a_transparent_png():
    raster = kde_raster([], [], VIEW, (64, 48), 200.0)
    assert raster.total() == 0
    image = Image.open(io.BytesIO(render_png(raster)))
    assert image.size == (64, 48) and image.mode == "RGBA"
    assert np.asarray(image)[..., 3].max() == 0


def test_the_png_overlay_is_transparent_where_there_is_nothing():
    view = (120.64, 28.0, 120.66, 28.02)
    raster = kde_raster([120.65], [28.01], view, (200, 100), 100.0, "quartic")
    pixels = np.asarray(Image.open(io.BytesIO(render_png(raster))))
    assert pixels.shape == (100, 200, 4)
    assert pixels[0, 0, 3] == 0 and pixels[50, 100, 3] > 200


def test_raster_geometry_is_in_wgs84():
    raster = kde_raster([120.65], [28.01], VIEW, (100, 80), 200.0)
    assert raster.crs == "EPSG:4326" and raster.bounds == VIEW
    a, _, west, _, e, north = raster.transform
    assert (west, north) == (120.60, 28.05)
    assert a == pytest.approx(0.001) and e == pytest.approx(-0.001)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"bandwidth_m": 0}, "bandwidth_m: must be a number of metres > 0"),
     ({"bandwidth_m": -5}, "bandwidth_m: must be a number of metres > 0"),
     ({"bandwidth_m": float("nan")}, "bandwidth_m"),
     ({"kernel": "epanechnikov"}, "kernel: 'epanechnikov' is not one of gaussian, quartic"),
     ({"bounds": (120.7, 28.0, 120.6, 28.1)}, "bbox: .* is not west < east"),
     ({"size": (0, 10)}, "size: width and height must be whole numbers"),
     ({"size": (5000, 10)}, "size: width and height must be whole numbers")],
)  # fmt: skip
def test_bad_kde_input_names_the_field(kwargs, message):
    arguments = {"lon": [120.65], "lat": [28.01], "bounds": VIEW, **kwargs}
    with pytest.raises(InputError, match=message):
        kde_raster(**arguments)


def test_render_refuses_a_bad_colormap():
    with pytest.raises(InputError, match="colormap: 'nope'"):
        render_png(Raster(np.ones((2, 2)), VIEW, 1.0), colormap="nope")


def test_hexagons_count_every_point_once():
    lon, lat = cluster(2000)
    cells = hexagons(lon, lat, resolution=9)
    assert cells["count"].sum() == 2000
    assert cells["count"].is_monotonic_decreasing
    assert (cells["per_km2"] > 0).all() and cells.crs.to_epsg() == 4326
    assert 70_000 < cells.to_crs(4549).area.mean() < 130_000  # about 0.1 km²
    with pytest.raises(InputError, match="resolution: an H3 resolution is 0–15"):
        hexagons(lon, lat, resolution=16)


def test_grid_counts_and_rates_per_100_households():
    points = reports({"101": 6, "204": 2})
    counts = grid_counts(tiny_hierarchy(), points, "grid")
    by_code = counts.set_index("code")
    assert by_code.loc["101", "count"] == 6 and by_code.loc["204", "count"] == 2
    assert by_code.loc["101", "per_100_households"] == 1.5
    assert by_code.loc["101", "per_km2"] == pytest.approx(6 / 1.09, rel=0.02)
    streets = grid_counts(tiny_hierarchy(), points, "street").set_index("code")
    assert streets["count"].to_dict() == {"1": 6, "2": 2}
    recent = grid_counts(tiny_hierarchy(), points, "grid", since=AS_OF - timedelta(days=1))
    assert recent["count"].sum() == 0
    with pytest.raises(InputError, match="level: 'floor' is not one of street, grid"):
        grid_counts(tiny_hierarchy(), points, "floor")


def test_animation_frames_share_the_events_out():
    points = reports({"101": 3}, days_ago=1.5)
    points = pd.concat([points, reports({"204": 2}, days_ago=0.5)], ignore_index=True)
    start = AS_OF - timedelta(days=2)
    district = (119.99, 27.99, 120.05, 28.03)
    frames = kde_frames(points, district, start, AS_OF, "day", (80, 60), 300.0)
    assert [f.count for f in frames] == [3, 2]
    assert [round(f.raster.total(), 3) for f in frames] == [3.0, 2.0]
    assert frames[0].start == start and frames[-1].end == AS_OF


def test_hexagon_time_slices_are_geojson():
    points = reports({"101": 3}, days_ago=1.5)
    fc = hexagon_slices(points, AS_OF - timedelta(days=2), AS_OF, "day", resolution=8)
    assert fc["type"] == "FeatureCollection" and len(fc["slices"]) == 2
    [feature] = fc["features"]
    assert feature["properties"]["count"] == 3.0
    assert feature["properties"]["start"] == (AS_OF - timedelta(days=2)).isoformat()
    assert feature["geometry"]["type"] == "Polygon"


def test_an_empty_time_window_is_refused():
    with pytest.raises(InputError, match="until: the time window is empty"):
        time_slices(AS_OF, AS_OF, "day")
    with pytest.raises(InputError, match="step: must be one of day, week"):
        time_slices(AS_OF - timedelta(days=3), AS_OF, "month")
    with pytest.raises(InputError, match="more than 400"):
        time_slices(AS_OF - timedelta(days=500), AS_OF, "day")
