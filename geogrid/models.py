"""The nouns of geogrid: levels of the grid hierarchy and the assignment statuses.

A :class:`Level` is data read from the boundaries manifest, never hard-coded:
a district may have two levels or six.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Coverage = Literal["full", "partial"]

#: The outcome of assigning a point: inside a grid, near one, or nowhere (not a report status).
ASSIGNED, NEAREST, UNASSIGNED = "assigned", "nearest", "unassigned"
ASSIGNMENT_OUTCOMES = (ASSIGNED, NEAREST, UNASSIGNED)


@dataclass(frozen=True)
class Level:
    """One level of the grid hierarchy, as the manifest describes it.

    ``coverage`` says whether the level's grids tile their parents ("full",
    the default: streets, communities, grids, micro-grids) or cover only part
    of them ("partial": buildings), which changes both validation (no gap check)
    and assignment (a point between buildings is still assigned).

    ``default`` marks the level that commands and pages use when none is named
    (the manifest's ``default_level``; see :attr:`geogrid.Hierarchy.default_level`).

    Examples
    --------
    >>> Level(key="street", label="街道", path="streets.geojson", code="code").coverage
    'full'
    """

    key: str
    label: str
    path: str
    code: str
    name: str | None = None
    parent: str | None = None
    crs: str | None = None
    attributes: tuple[str, ...] = field(default_factory=tuple)
    coverage: Coverage = "full"
    default: bool = False

    @property
    def code_column(self) -> str:
        """Name of the output column that holds this level's code, e.g. ``street_code``."""
        return f"{self.key}_code"
