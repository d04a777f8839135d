"""Hazards (隐患 / 风险源): a point or an area with an assessed risk.

Two assessment methods are in use in Chinese safety work:

* LEC (作业条件危险性评价法): D = L × E × C, with L (likelihood), E (exposure) and
  C (consequence) taken from fixed scales;
* the risk matrix (风险矩阵法): R = L × S, likelihood and severity each 1–5.

The scales are checked here so that a stored hazard always has a valid score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from geogrid.errors import InputError

#: The LEC scales (Graham–Kinney), as printed in Chinese safety manuals.
LEC_SCALES: dict[str, tuple[float, ...]] = {
    "L": (0.1, 0.2, 0.5, 1, 3, 6, 10),
    "E": (0.5, 1, 2, 3, 6, 10),
    "C": (1, 3, 7, 15, 40, 100),
}
MATRIX_SCALE = (1, 2, 3, 4, 5)
METHODS = ("lec", "matrix")


@dataclass(frozen=True)
class Hazard:
    """A hazard: where it is, how it was assessed, and how far it reaches.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> h = Hazard("加油站", "safety.hazmat", Point(120.65, 28.01), "lec",
    ...            {"L": 3, "E": 6, "C": 15}, radius_m=100)
    >>> h.score
    270
    """

    name: str
    category: str
    geometry: BaseGeometry
    method: str
    scores: dict[str, float]
    radius_m: float = 0.0
    attributes: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    @property
    def score(self) -> float:
        """D = L × E × C for LEC, R = L × S for the matrix."""
        return math.prod(
            self.scores[k] for k in (("L", "E", "C") if self.method == "lec" else ("L", "S"))
        )


def check_hazard(hazard: Hazard) -> None:
    """Refuse a hazard whose geometry, method or scores are wrong, naming the field.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> check_hazard(Hazard("x", "fire", Point(120, 28), "matrix", {"L": 6, "S": 2}))
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: scores.L: 6 is not on the matrix scale 1–5
    """
    if not hazard.name or not isinstance(hazard.name, str):
        raise InputError("name: a hazard needs a name")
    _check_geometry(hazard.geometry)
    if hazard.method not in METHODS:
        raise InputError(f"method: {hazard.method!r} is not one of {', '.join(METHODS)}")
    if hazard.method == "lec":
        _check_scales(hazard.scores, LEC_SCALES, "the LEC scale")
    else:
        _check_scales(hazard.scores, dict.fromkeys("LS", MATRIX_SCALE), "the matrix scale 1–5")
    if not (isinstance(hazard.radius_m, int | float) and 0 <= hazard.radius_m <= 50_000):
        raise InputError(f"radius_m: must be between 0 and 50000 m, got {hazard.radius_m!r}")


def _check_geometry(geometry: BaseGeometry) -> None:
    if not isinstance(geometry, BaseGeometry) or geometry.is_empty:
        raise InputError("geometry: a hazard needs a point or polygon")
    if geometry.geom_type not in ("Point", "Polygon", "MultiPolygon"):
        raise InputError(f"geometry: must be a point or polygon, got {geometry.geom_type}")
    west, south, east, north = shapely.bounds(geometry)
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InputError("geometry: coordinates must be WGS-84 longitude/latitude")


def _check_scales(scores: dict, scales: dict, label: str) -> None:
    if set(scores) != set(scales):
        raise InputError(f"scores: needs exactly {', '.join(scales)} for {label}")
    for key, allowed in scales.items():
        if scores[key] not in allowed:
            raise InputError(f"scores.{key}: {scores[key]} is not on {label}")
