"""Reading the project's TOML files (manifests, category trees) with errors a person can act on."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from geogrid.errors import GeogridError


def read_toml(path: Path, error: type[GeogridError], what: str) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file raises ``error`` naming it.

    Examples
    --------
    >>> from geogrid.errors import ManifestError
    >>> read_toml(Path("nowhere.toml"), ManifestError, "manifest")
    Traceback (most recent call last):
    ...
    geogrid.errors.ManifestError: nowhere.toml: manifest not found
    """
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None


def refuse_unknown_keys(
    table: dict[str, Any], allowed: set[str], where: str, error: type[GeogridError]
) -> None:
    """Refuse keys a table should not have, so that a typo is not silently ignored.

    Examples
    --------
    >>> from geogrid.errors import ManifestError
    >>> refuse_unknown_keys({"parnet": "x"}, {"parent"}, "level 'grid'", ManifestError)
    Traceback (most recent call last):
    ...
    geogrid.errors.ManifestError: level 'grid': unknown key 'parnet'; expected one of parent
    """
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise error(
            f"{where}: unknown key {', '.join(map(repr, unknown))}; "
            f"expected one of {', '.join(sorted(allowed))}"
        )
