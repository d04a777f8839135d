"""``geogrid redraw draft …``, ``redraw drafts`` and ``redraw rollback`` from the command line."""

from __future__ import annotations

import json
import zipfile

import pytest

from geogrid.cli import main
from geogrid.storage import open_store
from tests.storage.test_drafts import MOVED, district


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'drafts.db'}"
    monkeypatch.setenv("GEOGRID_STORE", url)
    store = open_store(url)
    store.import_generation(district(), "2026 版", activate=True, actor="cli:root")
    store.close()
    return url


def run(argv, capsys):
    code = main(["redraw", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_draft_from_creation_to_publication_and_back(store_url, tmp_path, capsys):
    code, out, _ = run(["draft", "create", "--level", "zone", "--parent", "1", "--name", "v1",
                        "--band", "100:300", "--numbering", "next"], capsys)  # fmt: skip
    assert code == 0 and "draft 1 (v1): 4 units in 2 grids, on generation 1" in out
    csv = tmp_path / "moved.csv"
    csv.write_text("unit_code,grid,grid_name\n" + "".join(
        f"{unit},{grid},{'东片' if grid == 'new-2' else ''}\n" for unit, grid in MOVED.items()),
        encoding="utf-8")  # fmt: skip
    assert run(["draft", "import", "1", str(csv)], capsys)[1].strip() == (
        "draft 1: 4 units read, 4 moved")  # fmt: skip
    code, out, _ = run(["draft", "show", "1"], capsys)
    assert code == 0 and "[draft, version 2]" in out and "publish gate:" in out
    shown = json.loads(run(["draft", "show", "1", "--json"], capsys)[1])
    assert shown["assignment"] == MOVED and shown["names"] == {"new-2": "东片"}
    assert {g["grid"]: g["units"] for g in shown["grids"]} == {"new-1": 1, "new-2": 3}
    code, out, _ = run(["drafts", "--level", "zone"], capsys)
    assert code == 0 and "v1" in out.splitlines()[1] and "draft" in out.splitlines()[1]
    for step, status in (("submit", "submitted"), ("approve", "approved")):
        assert f"is {status}" in run(["draft", step, "1"], capsys)[1]
    code, out, _ = run(["draft", "publish", "1"], capsys)
    assert code == 0 and "published as generation 2" in out
    code, out, _ = run(["crosswalk", "2"], capsys)
    assert code == 0 and out.splitlines()[0] == "level,old_code,new_code,change"
    assert "zone,,103,created" in out.splitlines() and "zone,101,,retired" in out.splitlines()
    store = open_store(store_url)
    assert store.active_generation_id() == 2
    assert sorted(store.grids("zone")["code"]) == ["103", "104", "201", "202"]
    assert store.drafts.get(1).published_by.startswith("cli:")
    code, out, _ = run(["rollback", "--to", "1"], capsys)
    assert code == 0 and "generation 1 is current again" in out
    assert store.active_generation_id() == 1
    store.close()


def test_propose_and_export(store_url, tmp_path, capsys):
    run(["draft", "create", "--level", "zone", "--parent", "1", "--band", "150:250"], capsys)
    code, out, _ = run(["draft", "propose", "1", "--keep-current", "--seed", "1"], capsys)
    assert code == 0 and "2 grids, 2 in band, 2 contiguous" in out
    for name in ("a.csv", "a.geojson", "a.gpkg", "a.shp.zip", "a.pdf"):
        code, out, _ = run(["draft", "export", "1", "--out", str(tmp_path / name)], capsys)
        assert code == 0 and (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "a.csv").read_text(encoding="utf-8").startswith("unit_code,grid,")
    assert "grids.shp" in zipfile.ZipFile(tmp_path / "a.shp.zip").namelist()
    assert (tmp_path / "a.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("argv, message", [
    (["draft", "show", "9"], "draft 9 does not exist"),
    (["draft", "create", "--level", "cell", "--parent", "101"], "cell is the finest level"),
    (["draft", "create", "--level", "zone", "--parent", "1", "--band", "9:1"], "--band"),
    (["draft", "export", "1", "--out", "a.docx"], "--out: a.docx must end in .csv"),
    (["draft", "publish", "1"], "is draft: only an approved draft can be published"),
    (["draft", "publish", "1", "--starts-on", "tomorrow"], "--starts-on: 'tomorrow'"),
    (["draft", "approve", "1"], "only a submitted draft can be approved"),
    (["rollback", "--to", "1"], "--to: generation 1 is already current"),
])  # fmt: skip
def test_mistakes_are_one_line_errors(store_url, capsys, argv, message):
    run(["draft", "create", "--level", "zone", "--parent", "1"], capsys)
    code, _, err = run(argv, capsys)
    assert code == 2 and message in err, err
    assert open_store(store_url).drafts.get(1).version == 1
