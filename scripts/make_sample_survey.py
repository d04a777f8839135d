"""Generate the sample district's next-year household survey (``data/boundaries/survey-2027.csv``).

Why it exists: the planner needs a real task on the served demo. In this survey one community
(春晖社区, ``GROWN_COMMUNITY``) has new residential compounds (小区) on its eastern side: its
micro-grids there gained between 60 and 160 households each, so its two eastern grids (404 and
472 households last year) now hold about 1,400 and 1,500 and the community must be redrawn;
every other micro-grid keeps last year's figures. The survey is one row per micro-grid:
``code, households, population, buildings, compound`` (compound blank where none was surveyed).

How it stays deterministic: one ``numpy.random.default_rng(SEED)`` is drawn from in the order of
the sorted micro-grid codes; the file is written with sorted rows. Run::

    python scripts/make_sample_survey.py [--manifest data/boundaries/sample.toml]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from geogrid.hierarchy import Hierarchy

SEED = 20270101
GROWN_COMMUNITY = "330399001010"
PERSONS_PER_HOUSEHOLD = 2.65
NEW_HOUSEHOLDS = (60, 160)  # per micro-grid east of the community's middle
HOUSEHOLDS_PER_BUILDING = 24  # the new compounds are mid-rise blocks
COMPOUND_NAMES = ("春晖花园", "春晖名苑", "晖映家园", "新苑小区", "东湖景园", "春江府")


def survey(hierarchy: Hierarchy) -> pd.DataFrame:
    """Last year's micro-grid figures, with the grown community's eastern micro-grids grown."""
    micro = hierarchy.grids("microgrid").sort_values("code").reset_index(drop=True)
    buildings = hierarchy.grids("building").groupby("parent").size()
    table = pd.DataFrame({
        "code": micro["code"],
        "households": micro["households"].astype(int),
        "population": micro["population"].astype(int),
        "buildings": micro["code"].map(buildings).fillna(0).astype(int),
        "compound": "",
    })  # fmt: skip
    grids = hierarchy.grids("grid")
    grown_grids = set(grids.loc[grids["parent"] == GROWN_COMMUNITY, "code"])
    grown = micro["parent"].isin(grown_grids).to_numpy()
    centroids = micro.geometry.representative_point()
    middle = np.median(centroids.x[grown])
    east = grown & (centroids.x > middle).to_numpy()
    rng = np.random.default_rng(SEED)
    added = rng.integers(NEW_HOUSEHOLDS[0], NEW_HOUSEHOLDS[1] + 1, size=int(east.sum()))
    table.loc[east, "households"] += added
    table.loc[east, "population"] += np.round(added * PERSONS_PER_HOUSEHOLD).astype(int)
    table.loc[east, "buildings"] += np.ceil(added / HOUSEHOLDS_PER_BUILDING).astype(int)
    table.loc[east, "compound"] = _compounds(centroids[east])
    return table


def _compounds(points) -> list[str]:
    """Name compounds by bands of three micro-grids, north to south: neighbours share one."""
    order = np.argsort(-points.y.to_numpy(), kind="stable")
    names = [""] * len(order)
    for rank, position in enumerate(order):
        names[position] = COMPOUND_NAMES[(rank // 3) % len(COMPOUND_NAMES)]
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default="data/boundaries/sample.toml")
    parser.add_argument("--out", default="data/boundaries/survey-2027.csv")
    args = parser.parse_args()
    table = survey(Hierarchy.from_manifest(args.manifest))
    table.to_csv(Path(args.out), index=False, lineterminator="\n")
    grown = table[table["compound"] != ""]
    print(f"{args.out}: {len(table)} micro-grids; {len(grown)} grown, "
          f"+{int(grown['households'].sum())} households in their compounds")  # fmt: skip


if __name__ == "__main__":
    main()
