"""Automatic proposals: feasibility, band and contiguity, reproducibility, keep-current repairs.

Most tests run ``_propose_on_graph`` on small lattices built here (nodes 0..n-1, the unit
graph's attributes); the last ones go through ``units_of`` on the sample and on the
hand-made ward district of ``conftest.py``.
"""

from __future__ import annotations

import networkx as nx
import pytest

from geogrid.errors import InputError
from geogrid.redraw.propose import InfeasibleBandError, Proposal, _propose_on_graph, propose
from geogrid.redraw.survey import read_survey
from geogrid.redraw.units import units_of, units_within

FAST = 2.0  # seconds: every proposal here finishes well inside it


def lattice(rows, cols, weight=50.0, current=None, road=None) -> nx.Graph:
    """A rows × cols unit graph: unit (r, c) is code "u<r><c>", 100 m edges.

    ``weight`` and ``current`` are values or functions of (r, c); ``road`` says whether the
    edge between two cells runs along a road.
    """
    grid = nx.grid_2d_graph(rows, cols)
    g = nx.convert_node_labels_to_integers(grid, ordering="sorted", label_attribute="rc")
    for _, data in g.nodes(data=True):
        r, c = data["rc"]
        data.update(
            code=f"u{r:02d}{c:02d}",
            compound=None,
            weight=float(weight(r, c) if callable(weight) else weight),
            current=current(r, c) if callable(current) else (current or ""),
        )
    for a, b, data in g.edges(data=True):
        along = road is not None and road(g.nodes[a]["rc"], g.nodes[b]["rc"])
        data.update(length_m=100.0, road_m=100.0 if along else 0.0, bridge=False)
    return g


def grid_weights(g: nx.Graph, p: Proposal) -> dict[str, float]:
    totals: dict[str, float] = {}
    for _, data in g.nodes(data=True):
        key = p.assignment[data["code"]]
        totals[key] = totals.get(key, 0.0) + data["weight"]
    return totals


def all_whole(g: nx.Graph, p: Proposal) -> bool:
    by_key: dict[str, list[int]] = {}
    for n, data in g.nodes(data=True):
        by_key.setdefault(p.assignment[data["code"]], []).append(n)
    return all(nx.is_connected(g.subgraph(nodes)) for nodes in by_key.values())


def assert_valid(g: nx.Graph, p: Proposal, band=(300, 500), exempt=()) -> None:
    weights = grid_weights(g, p)
    assert all(band[0] <= w <= band[1] for k, w in weights.items() if k not in exempt), weights
    assert all_whole(g, p)
    assert p.grids == len(weights) == p.in_band == p.contiguous


# ---------------------------------------------------------------- feasibility


def test_a_band_with_min_above_max_names_band():
    with pytest.raises(InputError, match="band: minimum 500 is above maximum 300"):
        _propose_on_graph(lattice(2, 2), band=(500, 300))


def test_a_total_that_fits_no_count_of_grids_says_why():
    g = lattice(2, 2, weight=130.0)  # 520: one grid is too heavy, two are too light
    why = r"total 520 cannot be cut into grids of 300–500.*at least ceil\(520/500\) = 2"
    with pytest.raises(InfeasibleBandError, match=why + r".*at most floor\(520/300\) = 1"):
        _propose_on_graph(g, band=(300, 500))


def test_a_unit_heavier_than_the_maximum_is_named():
    g = lattice(3, 3, weight=lambda r, c: 600 if (r, c) == (1, 1) else 100)
    with pytest.raises(InfeasibleBandError, match="unit u0101 alone has households 600"):
        _propose_on_graph(g, band=(300, 500))


def test_an_island_lighter_than_the_minimum_without_a_bridge_is_named():
    g = lattice(4, 4, weight=50.0)
    g.add_node(16, code="island", weight=40.0, current="", compound=None)
    with pytest.raises(InfeasibleBandError, match=r"units island form an island.*less than"):
        _propose_on_graph(g, band=(300, 500))


def test_a_bridge_lets_an_island_join_a_grid():
    g = lattice(4, 4, weight=50.0)
    g.add_node(16, code="island", weight=40.0, current="", compound=None)
    g.add_edge(16, 15, length_m=0.0, road_m=0.0, bridge=True)
    p = _propose_on_graph(g, band=(300, 500), time_limit_s=FAST)
    assert_valid(g, p)
    assert p.assignment["island"] == p.assignment["u0303"]


def test_locked_grids_that_cut_off_units_make_an_island():
    g = lattice(1, 8, weight=100.0, current=lambda r, c: "A" if c < 3 else "L" if c == 3 else "B")
    with pytest.raises(InfeasibleBandError, match="once locked and exclusive grids are set aside"):
        _propose_on_graph(g, band=(350, 500), locked=["L"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"locked": ["nope"]}, "locked: nope is not a current grid"),
        ({"exclusive": ["nope"]}, "exclusive: nope is not a current grid"),
        ({"current": {"u0000": "A"}}, "current: unit u0001 has no grid"),
        ({"current": {"zz": "A"}}, "current: unit zz is not one of the units"),
        ({"time_limit_s": 0}, "time_limit_s"),
    ],
)
def test_bad_options_name_their_field(options, message):
    with pytest.raises(InputError, match=message):
        _propose_on_graph(lattice(2, 4, weight=100.0, current="A"), **options)


def test_keep_current_needs_current_grids():
    with pytest.raises(InputError, match="current: keep_current"):
        _propose_on_graph(lattice(2, 4, weight=100.0), keep_current=True)


# ---------------------------------------------------------------- fresh mode


def test_a_fresh_proposal_puts_every_grid_in_band_and_in_one_piece():
    g = lattice(8, 8, weight=lambda r, c: 30 + (7 * r + 11 * c) % 40)
    p = _propose_on_graph(g, band=(300, 500), time_limit_s=FAST)
    assert_valid(g, p)
    assert p.suggested_grids[0] <= p.grids <= p.suggested_grids[1]
    assert p.kept_share is None  # no current grids to compare with
    assert sorted(set(p.assignment.values())) == [f"new-{i}" for i in range(1, p.grids + 1)]


def test_the_same_seed_gives_the_same_proposal():
    g = lattice(8, 8, weight=lambda r, c: 30 + (7 * r + 11 * c) % 40)
    first = _propose_on_graph(g, seed=7, time_limit_s=FAST)
    again = _propose_on_graph(g, seed=7, time_limit_s=FAST)
    assert first.assignment == again.assignment
    assert first.seed == 7


def test_fresh_grids_follow_roads_when_they_can():
    # three strips of two columns (400 each), roads between the strips
    g = lattice(4, 6, weight=50.0, road=lambda a, b: {a[1], b[1]} in ({1, 2}, {3, 4}))
    for seed in range(3):
        p = _propose_on_graph(g, seed=seed, band=(300, 500), time_limit_s=FAST)
        assert_valid(g, p)
        cut = [
            (a, b, d)
            for a, b, d in g.edges(data=True)
            if p.assignment[g.nodes[a]["code"]] != p.assignment[g.nodes[b]["code"]]
        ]
        assert all(d["road_m"] == d["length_m"] for _, _, d in cut)


def test_a_fresh_proposal_reports_the_share_kept_and_reuses_codes_held_by_majority():
    g = lattice(4, 6, weight=50.0, current=lambda r, c: "L" if c < 2 else "R")
    p = _propose_on_graph(g, band=(300, 500), time_limit_s=FAST)
    assert_valid(g, p)
    kept = sum(p.assignment[d["code"]] == d["current"] for _, d in g.nodes(data=True)) / 24
    assert p.kept_share == pytest.approx(kept)
    holders = {k for k in p.assignment.values() if not k.startswith("new-")}
    assert holders <= {"L", "R"}


# ---------------------------------------------------------------- keep-current mode


def blocks(r: int, c: int) -> str:
    return f"G{r // 3}{c // 3}"


def test_keep_current_leaves_grids_in_band_alone():
    # 3×3 blocks of 9 units × 45 = 405; block G00 is heavier (3 units of 120 more)
    def weight(r, c):
        return 45 + (120 if (r, c) in {(0, 0), (0, 1), (1, 0)} else 0)

    g = lattice(9, 9, weight=weight, current=blocks)
    p = _propose_on_graph(g, band=(300, 500), keep_current=True, time_limit_s=FAST)
    assert_valid(g, p)
    far = [d for _, d in g.nodes(data=True) if d["current"] in {"G02", "G12", "G20", "G21", "G22"}]
    assert all(p.assignment[d["code"]] == d["current"] for d in far)
    assert p.kept_share > 0.9


def test_keep_current_moves_only_what_it_must_and_reports_the_share_kept():
    # a path: A = 4 units of 100, B = 2 units of 100; B is under 250 and takes one unit of A
    g = lattice(1, 6, weight=100.0, current=lambda r, c: "A" if c < 4 else "B")
    p = _propose_on_graph(g, band=(250, 450), keep_current=True, time_limit_s=FAST)
    assert p.assignment == {
        "u0000": "A",
        "u0001": "A",
        "u0002": "A",
        "u0003": "B",
        "u0004": "B",
        "u0005": "B",
    }
    assert p.kept_share == pytest.approx(5 / 6)
    assert (p.grids, p.in_band, p.contiguous) == (2, 2, 2)


def test_keep_current_splits_a_grid_far_above_the_band_into_new_grids():
    g = lattice(3, 9, weight=50.0, current=lambda r, c: "BIG" if c < 6 else "S")  # 900 and 450
    p = _propose_on_graph(g, band=(300, 500), keep_current=True, time_limit_s=FAST)
    assert_valid(g, p)
    assert {p.assignment[d["code"]] for _, d in g.nodes(data=True) if d["current"] == "S"} == {"S"}
    assert sorted(set(p.assignment.values())) == ["S", "new-1", "new-2"]
    assert p.kept_share == pytest.approx(450 / 1350)


def test_keep_current_mends_a_grid_in_two_pieces():
    # grid A is split by B's column: its right piece (one unit) must join B
    g = lattice(
        3, 5, weight=50.0, current=lambda r, c: "B" if c == 3 or (c == 4 and r > 0) else "A"
    )
    p = _propose_on_graph(g, band=(250, 500), keep_current=True, time_limit_s=FAST)
    assert_valid(g, p, band=(250, 500))
    assert p.assignment["u0004"] == "B"


def test_locked_and_exclusive_grids_stay_as_they_are():
    # L (locked) is under the band and stays; X (exclusive) is exempt; A and B are repaired
    def current(r, c):
        return "L" if c == 0 else "X" if c == 1 and r == 0 else "A" if c < 5 else "B"

    g = lattice(3, 8, weight=50.0, current=current)
    p = _propose_on_graph(
        g, band=(300, 500), keep_current=True, locked=["L"], exclusive=["X"], time_limit_s=FAST
    )
    for _, d in g.nodes(data=True):
        if d["current"] in {"L", "X"}:
            assert p.assignment[d["code"]] == d["current"]
    weights = grid_weights(g, p)
    assert weights["L"] == 150 and weights["X"] == 50
    assert p.in_band == p.grids - 1  # L is out of band; X is exempt
    assert all(300 <= w <= 500 for k, w in weights.items() if k not in {"L", "X"})
    assert p.suggested_grids == (2 + 2, 3 + 2)  # 1000 free over 300–500, plus L and X


def test_fresh_mode_keeps_locked_grids_too():
    g = lattice(4, 6, weight=50.0, current=lambda r, c: "L" if c < 2 else "R")
    p = _propose_on_graph(g, band=(300, 500), locked=["L"], time_limit_s=FAST)
    assert_valid(g, p)
    assert {p.assignment[d["code"]] for _, d in g.nodes(data=True) if d["current"] == "L"} == {"L"}


def test_current_overrides_the_units_own_grids():
    g = lattice(1, 6, weight=100.0, current="Z")
    current = {f"u00{c:02d}": "A" if c < 4 else "B" for c in range(6)}
    p = _propose_on_graph(g, band=(250, 450), keep_current=True, current=current)
    assert p.assignment["u0000"] == "A" and p.kept_share == pytest.approx(5 / 6)


# ---------------------------------------------------------------- through units_of


def test_a_community_of_the_sample_in_band_is_kept_whole(sample):
    units = units_of(sample, "grid", "330399001001")
    kept = propose(units, keep_current=True, time_limit_s=FAST)
    assert kept.assignment == dict(zip(units.codes, units.current, strict=True))
    assert kept.kept_share == 1.0 and kept.in_band == kept.grids
    fresh = propose(units, seed=1, time_limit_s=FAST)
    assert fresh.in_band == fresh.contiguous == fresh.grids
    assert fresh.suggested_grids == (8, 12)  # 3669 households over 300–500


def test_the_survey_community_keeps_the_grids_still_in_band(sample):
    survey = read_survey("data/boundaries/survey-2027.csv")
    units = units_of(sample, "grid", "330399001010", survey=survey)
    p = propose(units, keep_current=True, time_limit_s=FAST)
    assert p.in_band == p.contiguous == p.grids
    keys = set(p.assignment.values())
    assert {"330399001010001", "330399001010002"} <= keys  # the two grids still in band
    assert p.kept_share == pytest.approx(890 / 3805)  # 1385 and 1530 must split: no majority


def test_every_community_of_a_street_gets_a_proposal_in_band(sample):
    for units in units_within(sample, "grid", "330399002"):
        p = propose(units, seed=0, time_limit_s=FAST)
        assert p.in_band == p.contiguous == p.grids, units.parent


def test_the_ward_district_keeps_its_blocks_and_bridges_its_island(ward_hierarchy):
    units = units_of(ward_hierarchy, "block", "D1-W1")
    p = propose(units, band=(250, 500), keep_current=True, time_limit_s=FAST)
    assert p.in_band == p.contiguous == p.grids
    block1 = [c for c in units.codes if c.startswith("D1-W1-B1-")]
    assert {p.assignment[c] for c in block1} == {"D1-W1-B1"}  # in band and not next to B4
    fresh = propose(units, band=(250, 500), time_limit_s=FAST)
    assert fresh.in_band == fresh.contiguous == fresh.grids
    assert fresh.assignment["D1-W1-B3-P10"] == fresh.assignment["D1-W1-B3-P11"]


def test_the_ward_district_with_a_locked_block(ward_hierarchy):
    units = units_of(ward_hierarchy, "block", "D1-W1")
    p = propose(units, band=(250, 500), keep_current=True, locked=["D1-W1-B3"], time_limit_s=FAST)
    assert p.in_band == p.contiguous == p.grids
    block3 = [c for c in units.codes if c.startswith("D1-W1-B3-")]
    assert {p.assignment[c] for c in block3} == {"D1-W1-B3"}


def test_new_keys_skip_keys_a_draft_already_uses():
    g = lattice(3, 8, weight=50.0, current=lambda r, c: "new-1" if c < 2 else "A")  # 300, 900
    p = _propose_on_graph(g, band=(300, 500), keep_current=True, locked=["new-1"])
    assert_valid(g, p)
    fixed = {d["code"] for _, d in g.nodes(data=True) if d["current"] == "new-1"}
    assert {c for c, k in p.assignment.items() if k == "new-1"} == fixed
    assert sorted(set(p.assignment.values())) == ["new-1", "new-2", "new-3"]
