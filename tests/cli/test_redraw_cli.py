"""``geogrid redraw propose|diff``: files written, summaries, exit codes and one-line errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from geogrid import Hierarchy
from geogrid.cli import main
from geogrid.redraw.apply import apply_plans
from geogrid.redraw.compare import generation_assignment
from geogrid.redraw.files import write_manifest
from geogrid.reports import NewReport
from geogrid.storage import open_store
from tests.conftest import SAMPLE_MANIFEST
from tests.redraw.conftest import make_ward_hierarchy

COMMUNITY = "330399001001"  # 金水社区


@pytest.fixture(scope="module")
def proposed(tmp_path_factory):
    """One proposal for 金水社区 of the sample, and what it printed."""
    out = tmp_path_factory.mktemp("proposed")
    code = main(
        [
            "redraw",
            "propose",
            str(SAMPLE_MANIFEST),
            "--level",
            "grid",
            "--weight",
            "households",
            "--band",
            "300:500",
            "--within",
            COMMUNITY,
            "--out",
            str(out),
        ]
    )
    return code, out


@pytest.fixture(scope="module")
def ward_manifest(tmp_path_factory):
    return write_manifest(make_ward_hierarchy(), tmp_path_factory.mktemp("ward"), name="ward")


def test_propose_writes_a_manifest_that_validates(proposed, capsys):
    code, out = proposed
    assert code == 0
    manifest = out / "boundaries.toml"
    assert main(["validate", str(manifest)]) == 0
    assert "0 errors" in capsys.readouterr().out
    new = Hierarchy.from_manifest(manifest)
    grids = new.grids("grid")
    mine = grids[grids["parent"] == COMMUNITY]
    assert mine["households"].between(300, 500).all()
    assert len(grids[grids["parent"] != COMMUNITY]) == 225 - 9  # other communities untouched


def test_propose_writes_changes_and_codes(proposed):
    _, out = proposed
    changes = pd.read_csv(out / "changes.csv", dtype=str)
    codes = pd.read_csv(out / "codes.csv", dtype=str, keep_default_na=False)
    assert list(changes.columns) == ["unit_code", "old_grid", "new_grid"]
    assert list(codes.columns) == ["level", "old_code", "new_code", "change"]
    assert changes["unit_code"].str.startswith(COMMUNITY).all()
    assert set(codes["change"]) <= {"kept", "reshaped", "created", "retired", "renumbered"}
    created = codes[(codes["level"] == "grid") & (codes["change"] == "created")]["new_code"]
    assert set(changes["new_grid"]) <= set(created) | set(codes["new_code"])


def test_propose_prints_a_line_per_parent(tmp_path, capsys):
    code = main(
        [
            "redraw",
            "propose",
            str(SAMPLE_MANIFEST),
            "--level",
            "grid",
            "--weight",
            "count",
            "--band",
            "6:12",
            "--within",
            COMMUNITY,
            "330399001002",
            "--keep-current",
            "--numbering",
            "next",
            "--seed",
            "3",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{COMMUNITY} 金水社区: 9 → ")
    assert "in band" in lines[0] and "kept" in lines[0]
    assert lines[1].startswith("330399001002 ")
    assert "units moved" in lines[-1] and "changes.csv" in lines[-1]


def test_propose_on_a_hierarchy_with_other_keys_and_codes(ward_manifest, tmp_path, capsys):
    code = main(
        [
            "redraw",
            "propose",
            str(ward_manifest),
            "--level",
            "block",
            "--weight",
            "households",
            "--band",
            "200:400",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("D1-W1 ") and "D1-W2 " in printed.out
    assert "1 topology errors" in printed.err  # the ward's own sliver gap
    blocks = Hierarchy.from_manifest(tmp_path / "boundaries.toml").grids("block")
    assert blocks[blocks["parent"] == "D1-W1"]["households"].between(200, 400).all()
    assert blocks["code"].str.match(r"^D1-W[12]-B\d+$").all()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--level", "floor"], "--level: 'floor' is not one of street, community"),
        (["--level", "building"], "--level: 'building' is the finest level"),
        (["--level", "microgrid"], "--level: 'microgrid' cannot be redrawn"),
        (["--band", "500:300"], "--band: MIN 500 is more than MAX 300"),
        (["--band", "300-500"], "--band: '300-500' is not MIN:MAX"),
        (
            ["--weight", "voters"],
            "--weight: 'voters' is not a column of the microgrid units; "
            "columns are count, households, population",
        ),
        (["--within", "330399001"], "--within: 330399001 is a street; --within takes community"),
        (["--within", "999"], "--within: 999 is not a grid of"),
        (["--level", "street", "--within", "330399001"], "--within: 'street' is the top level"),
    ],
)
def test_propose_mistakes_exit_2_naming_the_option(tmp_path, capsys, options, message):
    arguments = {"--level": "grid", "--weight": "households", "--band": "300:500"}
    arguments.update(dict(zip(options[::2], options[1::2], strict=True)))
    argv = ["redraw", "propose", str(SAMPLE_MANIFEST), "--out", str(tmp_path)]
    for option, value in arguments.items():
        argv += [option, value]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("geogrid: error: ") and message in error
    assert not (tmp_path / "boundaries.toml").exists()


def test_propose_an_infeasible_band_exits_2(tmp_path, capsys):
    argv = [
        "redraw",
        "propose",
        str(SAMPLE_MANIFEST),
        "--level",
        "grid",
        "--weight",
        "households",
        "--band",
        "5000:6000",
        "--within",
        COMMUNITY,
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 2
    assert "band" in capsys.readouterr().err


def test_diff_counts_moves_and_code_changes(proposed, capsys):
    _, out = proposed
    capsys.readouterr()
    assert main(["redraw", "diff", str(SAMPLE_MANIFEST), str(out / "boundaries.toml")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("street: 3 grids, unchanged\ncommunity: 36 grids, unchanged\n")
    assert "grid: 225 → " in text and "microgrid units moved" in text
    assert (
        main(["redraw", "diff", str(SAMPLE_MANIFEST), str(out / "boundaries.toml"), "--json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    grid = next(level for level in result["levels"] if level["level"] == "grid")
    changes = pd.read_csv(out / "changes.csv", dtype=str)
    assert grid["units_recoded"] == len(changes)
    assert 0 < grid["units_moved"] <= len(changes)
    codes = pd.read_csv(out / "codes.csv", dtype=str, keep_default_na=False)
    retired = codes[(codes["level"] == "grid") & (codes["change"] == "retired")]
    assert grid["retired"] == sorted(retired["old_code"])
    assert grid["weight_moved"]["households"] > 0
    assert "reports" not in result


def test_diff_of_a_manifest_with_itself_changes_nothing(capsys):
    assert main(["redraw", "diff", str(SAMPLE_MANIFEST), str(SAMPLE_MANIFEST), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert all(not level["created"] and not level["retired"] for level in result["levels"])
    assert {level["units_moved"] for level in result["levels"]} == {0, None}


def test_diff_with_a_store_counts_open_reports_reassigned(ward_manifest, tmp_path, capsys):
    # the ward district keeps this fast: building the sample's point index takes seconds
    old = Hierarchy.from_manifest(ward_manifest)
    plan = generation_assignment(old, "block", "D1-W1")
    plan.update({"D1-W1-B4-P1": "D1-W1-B3", "D1-W1-B4-P2": "D1-W1-B3"})  # B4 into B3
    new = write_manifest(apply_plans(old, "block", {"D1-W1": plan}).hierarchy, tmp_path / "new")
    parcels = old.grids("parcel").set_index("code").geometry.representative_point()
    # B3 grows and keeps its code; B4 retires, so only a report in B4 gets new codes
    changed = [parcels["D1-W1-B4-P2"]]
    same = [parcels["D1-W1-B3-P1"], parcels["D1-W1-B1-P1"], parcels["D1-W2-B1-P1"],
            parcels["D1-W1-B2-P2"]]  # fmt: skip
    store = open_store(f"sqlite:///{tmp_path}/g.db")  # no generation needed: lon/lat suffice
    store.add_reports([NewReport("dispute", p.x, p.y) for p in changed + same])
    store.close()
    argv = ["redraw", "diff", str(ward_manifest), str(new), "--store", f"sqlite:///{tmp_path}/g.db"]
    assert main(argv) == 0
    assert capsys.readouterr().out.endswith("open reports: 1 of 5 would be re-assigned\n")


def test_diff_mistakes_exit_2(tmp_path, ward_manifest, capsys):
    assert main(["redraw", "diff", str(SAMPLE_MANIFEST), str(ward_manifest)]) == 2
    assert "NEW_MANIFEST: its levels (district, ward, block, parcel)" in capsys.readouterr().err
    store = f"sqlite:///{tmp_path}/missing.db"
    assert (
        main(["redraw", "diff", str(SAMPLE_MANIFEST), str(SAMPLE_MANIFEST), "--store", store]) == 2
    )
    assert f"--store: {store} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()
