"""GeoJSON for grids and reports, shared by the JSON API and OGC API – Features."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geogrid.access import HANDLER_ROLES, Principal, steps_allowed
from geogrid.reports import Report
from geogrid.workflow import DISPATCHED

#: Six decimals of a degree are ~0.1 m: plenty for display, a third of the bytes.
DISPLAY_DECIMALS = 6
_CORE = ("code", "name", "parent", "geometry")


def round_geometry(geometry: Any, decimals: int = DISPLAY_DECIMALS) -> Any:
    """Geometries with coordinates rounded for display.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> round_geometry(Point(120.123456789, 28.0)).wkt
    'POINT (120.123457 28)'
    """
    return shapely.transform(geometry, lambda xy: np.round(xy, decimals))


def grid_features(grids: gpd.GeoDataFrame, level: str, simplify_m: float = 0.0) -> list[dict]:
    """Grids of one level as GeoJSON features (id = code; properties include the level).

    ``simplify_m`` > 0 simplifies outlines (Douglas–Peucker, topology kept per grid)
    for small-scale maps.
    """
    geometry = grids.geometry.values
    if simplify_m > 0:
        geometry = shapely.simplify(geometry, simplify_m / 111_000, preserve_topology=True)
    shapes = [shapely.geometry.mapping(g) for g in round_geometry(geometry)]
    extra = [c for c in grids.columns if c not in _CORE]
    features = []
    for (code, name, parent), values, shape in zip(
        grids[["code", "name", "parent"]].itertuples(index=False, name=None),
        grids[extra].itertuples(index=False, name=None),
        shapes,
        strict=True,
    ):
        properties = {"code": code, "name": name, "parent": parent, "level": level}
        properties.update({k: _plain(v) for k, v in zip(extra, values, strict=True)})
        features.append({"type": "Feature", "id": code, "geometry": shape,
                         "properties": properties})  # fmt: skip
    return features


def report_properties(report: Report, reader: Principal | None = None) -> dict:
    """A report's fields for JSON (history left out; times in ISO 8601 UTC).

    With a ``reader``, the reporter's contact details go with it as :func:`contact_of`
    says; without one (public channels), never.
    """
    out = report_json(report, reader, photos=False)  # listings: one query, not one per report
    out.pop("history")
    return out


def report_json(report: Report, reader: Principal | None = None, photos: bool = True) -> dict:
    """A report with its history, and its contact details as ``reader`` may see them.

    For a reader, also what the closed loop's pages need: its ``warning`` now
    (overdue, nearly, or None), the steps (``actions``) this reader may take now,
    and its photos.
    """
    out = report.to_dict()
    contact = contact_of(report, reader)
    if contact is not None:
        out["contact"] = contact
    # The ticket is the reporter's key to follow, rate and add photos: as private as
    # their contact details.
    if not (reader and reader.may("report.contact") and reader.covers(report.codes.values())):
        out.pop("ticket", None)
    if reader is not None:
        out.update(_loop_fields(report, reader, photos))
    return out


def _loop_fields(report: Report, reader: Principal, photos: bool) -> dict:
    # Deferred: web.state and web.media need the app; this module is imported without one.
    from web.media import photos_json
    from web.state import now  # deferred: as above

    actions = list(steps_allowed(reader.role, report.status))
    if report.status == DISPATCHED and reader.may("report.dispatch"):
        actions.append(DISPATCHED)  # 改派: dispatch again to someone else
    if reader.role in HANDLER_ROLES and report.assignee not in (None, reader.name):
        actions = []  # dispatched to someone else: theirs to handle
    fields = {"warning": report.warning(now()), "actions": actions}
    return {**fields, "media": photos_json(report.id)} if photos else fields


def contact_of(report: Report, reader: Principal | None) -> dict | None:
    """The reporter's contact details for ``reader``: whole, masked, or None.

    Whole for a reader who may see contacts (``report.contact``) and has the
    report in scope; masked for every other reader; None without a reader or
    without details.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from geogrid.access import Contact
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> report = Report(1, None, "resident", "fire", "", at, at, 120.0, 28.0, "WGS-84",
    ...                 120.0, 28.0, 1, {"grid": "101"}, "inside", 0.0, "received", None,
    ...                 None, None, at, (), contact=Contact(name="张三", phone="13800001234"))
    >>> contact_of(report, Principal("li", "commander"))
    {'name': '张三', 'phone': '13800001234'}
    >>> contact_of(report, Principal("wang", "viewer"))
    {'name': '张*', 'phone': '138****1234'}
    >>> contact_of(report, None) is None
    True
    """
    if reader is None or not report.contact:
        return None
    whole = reader.may("report.contact") and reader.covers(report.codes.values())
    return (report.contact if whole else report.contact.masked()).as_dict()


def report_feature(report: Report, history: bool = False,
                   reader: Principal | None = None) -> dict:  # fmt: skip
    """A report as a GeoJSON point feature at its WGS-84 location."""
    properties = report_json(report, reader) if history else report_properties(report, reader)
    return {"type": "Feature", "id": report.id,
            "geometry": {"type": "Point", "coordinates": [round(report.lon, 7),
                                                          round(report.lat, 7)]},
            "properties": properties}  # fmt: skip


def feature_collection(features: list[dict], **members: Any) -> dict:
    """A FeatureCollection with extra top-level members (links, numberMatched…)."""
    return {"type": "FeatureCollection", "features": features, **members}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
