"""Everything patrol (巡逻/巡查): routes and tracks, GPX, compliance, road networks, routing.

- :mod:`~geogrid.patrol.records`: the stored nouns, planned routes and recorded tracks;
- :mod:`~geogrid.patrol.gpx` and :mod:`~geogrid.patrol.gpxscan`: GPX in and out, and
  the fast scan of a track's points;
- :mod:`~geogrid.patrol.tracks`: what a track did (length, grids passed, time in
  each, stops, check-ins);
- :mod:`~geogrid.patrol.batch`: a day's GPX files read and analysed on every core;
- :mod:`~geogrid.patrol.compliance`: 一日三巡, patrols per grid and day against the rule;
- :mod:`~geogrid.patrol.network`: road networks from OSM, GraphML or line layers;
- :mod:`~geogrid.patrol.routing`: planned routes through priority places or every street.
"""
