"""The store commands of geogrid: import, generations, activate, reports …"""

from __future__ import annotations

import getpass
import json

import pytest

from geogrid.cli import main
from tests.conftest import SOUTH, WEST, tiny_grids, write_tiny_district

REPORTS_CSV = (
    "external_id,category,lon,lat,source,reported_at,description\n"
    f"h-1,邻里纠纷,{WEST + 0.005},{SOUTH + 0.005},hotline,2026-11-20T09:30:00,楼上漏水\n"
    f"h-2,fire.lane,{WEST + 0.035},{SOUTH + 0.015},resident,2026-11-20T10:00:00+08:00,堵了\n"
    f"h-3,city.rubbish,{WEST - 0.5},{SOUTH},,,\n"
)


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("GEOGRID_STORE", url)
    return url


@pytest.fixture
def imported(store_url, tiny_manifest, capsys):
    assert main(["import", str(tiny_manifest), "--activate"]) == 0
    capsys.readouterr()
    return store_url


def run(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_generations_and_activate(store_url, tiny_manifest, capsys):
    code, out, _ = run(["import", str(tiny_manifest), "--label", "2026 版"], capsys)
    assert code == 0 and "generation 1 '2026 版': 10 grids in 2 levels, not active" in out
    code, out, _ = run(["generations"], capsys)
    assert "2026 版" in out and out.startswith(" ")  # no active mark yet
    code, out, _ = run(["activate", "1"], capsys)
    assert code == 0 and "generation 1 is active" in out
    assert run(["generations"], capsys)[1].startswith("*")


def test_a_bbox_west_of_greenwich_is_a_value_not_an_option(imported, tmp_path, capsys):
    london = tmp_path / "london.csv"
    london.write_text("external_id,category,lon,lat\nl-1,city.rubbish,-0.19,51.5\n")
    assert run(["reports", "import", str(london)], capsys)[0] == 0
    code, out, err = run(["reports", "list", "--bbox", "-0.5,51.3,0.3,51.7"], capsys)
    assert code == 0, err
    assert out.startswith("1 reports match")


def test_import_refuses_a_district_with_topology_errors(store_url, tmp_path, capsys):
    grids = tiny_grids()
    grids.loc[0, "geometry"] = grids.geometry[0].buffer(0.002, join_style="mitre")
    manifest = write_tiny_district(tmp_path / "bad", grids=grids)
    code, out, err = run(["import", str(manifest)], capsys)
    assert code == 1 and "overlap" in out and "import refused" in err
    assert run(["generations"], capsys)[1] == ""


def test_reports_import_is_idempotent_and_lists(imported, tmp_path, capsys):
    path = tmp_path / "reports.csv"
    path.write_text(REPORTS_CSV, encoding="utf-8")
    code, out, _ = run(["reports", "import", str(path)], capsys)
    assert code == 0 and "3 reports read" in out and "3 stored" in out
    code, out, _ = run(["reports", "import", str(path)], capsys)
    assert "0 stored, 3 already there" in out
    code, out, _ = run(["reports", "list", "--grid", "1", "--json"], capsys)
    listing = json.loads(out)
    assert listing["total"] == 1
    (first,) = listing["items"]
    assert first["category"] == "dispute.neighbour" and first["codes"]["grid"] == "101"
    assert first["reported_at"] == "2026-11-20T01:30:00+00:00"  # local time of Asia/Shanghai


def test_reports_import_refuses_bad_rows_and_stores_nothing(imported, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(
        REPORTS_CSV.replace("fire.lane", "fire.lame").replace(
            f"{WEST - 0.5},{SOUTH}", f"{WEST},95"
        ),
        encoding="utf-8",
    )
    code, _, err = run(["reports", "import", str(path)], capsys)
    assert code == 2 and "nothing stored" in err
    assert "row 2: report (external_id h-2): unknown category 'fire.lame'" in err
    assert "row 3: report (external_id h-3): lat: 95.0" in err
    assert json.loads(run(["reports", "list", "--json"], capsys)[1])["total"] == 0


def test_workflow_from_the_command_line(imported, tmp_path, capsys):
    path = tmp_path / "reports.csv"
    path.write_text(REPORTS_CSV, encoding="utf-8")
    run(["reports", "import", str(path)], capsys)
    code, out, _ = run(["reports", "transition", "1", "registered", "--actor", "李四"], capsys)
    assert code == 0 and "登记" in out
    code, _, err = run(["reports", "transition", "1", "closed", "--actor", "李四"], capsys)
    assert code == 2 and "geogrid: error:" in err
    code, out, _ = run(["reports", "show", "1"], capsys)
    # The history names the operating-system account that ran the command, not --actor.
    assert f"cli:{getpass.getuser()}" in out and "received → registered" in out
    assert "李四" not in out
    code, out, _ = run(["reports", "overdue"], capsys)
    assert code == 0 and "0 open reports past their deadline" in out


def test_unreachable_store_is_one_line(tmp_path, capsys):
    code, _, err = run(["generations", "--store", "postgresql://x@127.0.0.1:1/none"], capsys)
    assert code == 2 and err.startswith("geogrid: error:") and "cannot connect" in err


def test_reports_import_run_again_with_other_options_is_refused(imported, tmp_path, capsys):
    """Rows without an external id are known by the file and row: other options conflict."""
    path = tmp_path / "no-ids.csv"
    no_ids = REPORTS_CSV.replace("h-1", "").replace("h-2", "").replace("h-3", "")
    path.write_text(no_ids, encoding="utf-8")
    assert "3 stored" in run(["reports", "import", str(path)], capsys)[1]
    code, _, err = run(["reports", "import", str(path), "--crs", "GCJ-02"], capsys)
    assert code == 2 and "rows 1–3 refused, 0 new reports stored" in err
    assert "file-" in err and "other --crs" in err
    assert json.loads(run(["reports", "list", "--json"], capsys)[1])["total"] == 3


def test_reports_import_names_bad_rows_without_made_up_ids(imported, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(REPORTS_CSV.replace("h-1", "").replace("邻里纠纷", "邻居"), encoding="utf-8")
    code, _, err = run(["reports", "import", str(path)], capsys)
    assert code == 2 and "\n  row 1: unknown category '邻居'" in err
