"""Point → grid at every level: the rules, the point locator, the nearest search, the bulk path.

- :mod:`~geogrid.assign.assigner`: :class:`Assigner`, the rules (covered-by, the lowest
  code on a shared edge, the finest level first, nearest within a distance);
- :mod:`~geogrid.assign.locate`: :class:`~geogrid.assign.locate.PointLocator`, exact
  point-in-polygon over a raster of the finest polygons;
- :mod:`~geogrid.assign.nearest`: the nearest grid of a point outside every grid;
- :mod:`~geogrid.assign.bulk`: many points in chunks, where the command line and any
  other engine call it.
"""

from geogrid.assign.assigner import DEFAULT_MAX_DISTANCE_M, Assigner, base_level

__all__ = ["DEFAULT_MAX_DISTANCE_M", "Assigner", "base_level"]
