"""The boundaries manifest: a TOML file that lists the levels, top level first.

A manifest looks like this (paths are relative to the manifest)::

    name = "Sample district"
    crs = "EPSG:4326"              # CRS of the files; also "GCJ-02" / "BD-09"
    default_level = "community"    # used when a command names no level (optional)
    [[level]]
    key = "street"
    label = "街道"
    path = "streets.geojson"       # GeoJSON, "f.gpkg#layer", .shp or zipped .shp
    code = "code"
    name = "name"
    [[level]]
    key = "community"
    path = "communities.geojson"
    code = "code"
    parent = "street_code"         # absent → parent found spatially
    coverage = "full"              # "partial" for levels such as buildings
    attributes = ["households", "population"]
    [roads]
    path = "roads.gpkg#roads"      # optional road network layer

Unknown keys are refused so that a typo ("parnet") is not silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from geogrid.errors import ManifestError
from geogrid.models import Level
from geogrid.tomlfile import read_toml, refuse_unknown_keys

MAX_LEVELS = 6
#: Level keys the web app uses for other collections.
RESERVED_KEYS = frozenset({"reports"})
_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = {"name", "crs", "default_level", "level", "roads"}
_LEVEL_KEYS = {"key", "label", "path", "code", "name", "parent", "crs", "attributes", "coverage"}
_ROADS_KEYS = {"path", "crs"}


@dataclass(frozen=True)
class LayerSource:
    """Where a layer lives: a file, maybe a layer inside it, and a CRS that overrides the file's."""

    file: Path
    layer: str | None
    crs: str | None

    @property
    def display(self) -> str:
        """The path as a person would write it, e.g. ``micro.gpkg#micro``."""
        return f"{self.file}#{self.layer}" if self.layer else str(self.file)


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: its levels (top first), optional roads layer, and defaults.

    Examples
    --------
    >>> m = load_manifest("data/boundaries/sample.toml")
    >>> [level.key for level in m.levels]
    ['street', 'community', 'grid', 'microgrid', 'building']
    """

    path: Path
    name: str | None
    crs: str | None
    levels: tuple[Level, ...]
    roads: LayerSource | None

    def source(self, level: Level) -> LayerSource:
        """The file, layer and CRS override of one level (the manifest's ``crs`` is a default)."""
        file, layer = split_layer_path(self.path.parent, level.path)
        return LayerSource(file, layer, level.crs)


def split_layer_path(base: Path, path: str) -> tuple[Path, str | None]:
    """Split ``"f.gpkg#layer"`` into a file resolved against ``base`` and a layer name.

    Examples
    --------
    >>> split_layer_path(Path("/d"), "micro.gpkg#grids")
    (PosixPath('/d/micro.gpkg'), 'grids')
    >>> split_layer_path(Path("/d"), "streets.geojson")
    (PosixPath('/d/streets.geojson'), None)
    """
    file, _, layer = path.partition("#")
    return (base / file).resolve(), (layer or None)


def load_manifest(path: str | Path) -> Manifest:
    """Read and check a manifest; every problem names the file, the level and the key.

    Examples
    --------
    >>> load_manifest("data/boundaries/sample.toml").name
    '示范区 Sample district'
    """
    path = Path(path)
    raw = _read_toml(path)
    _refuse_unknown_keys(raw, _TOP_KEYS, f"{path}")
    levels = _mark_default(path, _parse_levels(path, raw.get("level")), raw)
    roads = _parse_roads(path, raw.get("roads"))
    return Manifest(
        path.resolve(), _optional_str(path, raw, "name"), _crs(path, raw), levels, roads
    )


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml(path, ManifestError, "manifest")


def _refuse_unknown_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    refuse_unknown_keys(table, allowed, where, ManifestError)


def _optional_str(path: Path, table: dict[str, Any], key: str, where: str = "") -> str | None:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ManifestError(f"{path}{where}: '{key}' must be a non-empty string, got {value!r}")
    return value


def _crs(path: Path, table: dict[str, Any], where: str = "") -> str | None:
    # Checked here only for type; the CRS itself is parsed when a layer is read,
    # so that the message can also name the file that uses it.
    return _optional_str(path, table, "crs", where)


def _parse_levels(path: Path, raw_levels: Any) -> tuple[Level, ...]:
    if not isinstance(raw_levels, list) or not raw_levels:
        raise ManifestError(f"{path}: needs at least one [[level]] table, top level first")
    if len(raw_levels) > MAX_LEVELS:
        raise ManifestError(f"{path}: {len(raw_levels)} levels; at most {MAX_LEVELS} are supported")
    levels = tuple(_parse_level(path, number, raw) for number, raw in enumerate(raw_levels, 1))
    keys = [level.key for level in levels]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise ManifestError(f"{path}: level key {', '.join(duplicated)} is used more than once")
    return levels


def _mark_default(path: Path, levels: tuple[Level, ...], raw: dict[str, Any]) -> tuple[Level, ...]:
    key = _optional_str(path, raw, "default_level")
    if key is None:
        return levels
    keys = [level.key for level in levels]
    if key not in keys:
        raise ManifestError(
            f"{path}: 'default_level' must be one of the level keys {', '.join(keys)}, got {key!r}"
        )
    return tuple(replace(level, default=level.key == key) for level in levels)


def _parse_level(path: Path, number: int, raw: Any) -> Level:
    where = f" [[level]] #{number}"
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}{where}: must be a table")
    if isinstance(raw.get("key"), str):
        where = f" level '{raw['key']}'"
    _refuse_unknown_keys(raw, _LEVEL_KEYS, f"{path}{where}")
    for required in ("key", "path", "code"):
        if required not in raw:
            raise ManifestError(f"{path}{where}: missing required key '{required}'")
    key = _optional_str(path, raw, "key", where)
    if key in RESERVED_KEYS:
        raise ManifestError(f"{path}{where}: key {key!r} is reserved (it names the reports)")
    if not _KEY_PATTERN.match(key):
        raise ManifestError(
            f"{path}{where}: key {key!r} must be lower-case letters, digits and '_'"
        )
    return Level(
        key=key,
        label=_optional_str(path, raw, "label", where) or key,
        path=_optional_str(path, raw, "path", where),
        code=_optional_str(path, raw, "code", where),
        name=_optional_str(path, raw, "name", where),
        parent=_optional_str(path, raw, "parent", where),
        crs=_crs(path, raw, where),
        attributes=_attributes(path, raw, where),
        coverage=_coverage(path, raw, where),
    )


def _attributes(path: Path, raw: dict[str, Any], where: str) -> tuple[str, ...]:
    value = raw.get("attributes", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ManifestError(f"{path}{where}: 'attributes' must be a list of column names")
    return tuple(value)


def _coverage(path: Path, raw: dict[str, Any], where: str) -> str:
    value = raw.get("coverage", "full")
    if value not in ("full", "partial"):
        raise ManifestError(f'{path}{where}: \'coverage\' must be "full" or "partial"')
    return value


def _parse_roads(path: Path, raw: Any) -> LayerSource | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or "path" not in raw:
        raise ManifestError(f"{path} [roads]: needs a 'path'")
    _refuse_unknown_keys(raw, _ROADS_KEYS, f"{path} [roads]")
    file, layer = split_layer_path(path.parent, _optional_str(path, raw, "path", " [roads]"))
    return LayerSource(file, layer, _crs(path, raw, " [roads]"))
