"""The planner's redraw studio: regroup a parent's units into grids, measure, propose, publish.

- :mod:`~geogrid.redraw.units`: a parent's units (the grids of the level below), their weights
  and their neighbours, with the stated rules for corners, slivers, islands and MultiPolygons;
- :mod:`~geogrid.redraw.plan` and :mod:`~geogrid.redraw.metrics`: a draft's unit → grid table,
  its edits (move, new, merge, split, lock, undo, fixes) and live metrics, warnings and gate;
- :mod:`~geogrid.redraw.propose`: automatic proposals (GerryChain), fresh or keeping today's grids;
- :mod:`~geogrid.redraw.apply`: plans → a new hierarchy, codes and the old → new crosswalk;
- :mod:`~geogrid.redraw.compare`, :mod:`~geogrid.redraw.impact`: two plans side by side; what a
  redraw changes in a running store;
- :mod:`~geogrid.redraw.files` and :mod:`~geogrid.redraw.survey`: files in and out; a household
  survey's figures.

Nothing is imported here, so that reading a plan does not load GerryChain.
"""
