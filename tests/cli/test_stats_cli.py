"""``geogrid stats``: the assessment table as CSV, Excel and JSON, and its mistakes.

The store holds the scenario of tests/geogrid/test_stats.py (November 2026). The
command reads "now" from the system's clock, so these tests assert only what does
not depend on it: the period is always given.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import load_workbook

from geogrid.cli import main
from tests.conftest import RENAMED_MANIFEST, write_tiny_district
from tests.geogrid.test_stats import _scenario

PERIOD = ["--since", "2026-11-01", "--until", "2026-11-30"]


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stats-cli")
    url = f"sqlite:///{folder / 'stats.db'}"
    _scenario(url, write_tiny_district(folder / "district", RENAMED_MANIFEST)).close()
    return url


def run(argv, capsys, store_url):
    code = main(["stats", *argv, "--store", store_url])
    out, err = capsys.readouterr()
    return code, out, err


def test_csv_to_standard_output(store_url, capsysbinary):
    code = main(["stats", "--level", "zone", *PERIOD, "--store", store_url, "--no-patrol"])
    out = capsysbinary.readouterr().out
    assert code == 0 and out.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    rows = list(csv.DictReader(io.StringIO(out.decode("utf-8-sig"))))
    assert list(rows[0])[:9] == ["code", "name", "received", "closed", "closure_rate",
                                 "on_time_rate", "overdue", "escalated",
                                 "mean_hours_to_close"]  # fmt: skip
    first = rows[0]
    assert (first["code"], first["name"], first["received"], first["closed"]) == (
        "101", "第1网格", "3", "3")  # fmt: skip
    assert float(first["closure_rate"]) == pytest.approx(0.6667)
    assert rows[2]["closure_rate"] == ""  # zone 103: nothing received


def test_json_by_worker(store_url, capsys):
    code, out, _ = run(["--by", "worker", *PERIOD, "--format", "json", "--no-patrol"], capsys,
                       store_url)  # fmt: skip
    body = json.loads(out)
    assert code == 0 and body["since"] == "2026-11-01" and body["until"] == "2026-11-30"
    assert [r["code"] for r in body["rows"]] == ["w1", "w2", "w3"]
    assert body["rows"][0]["name"] == "王一" and body["rows"][0]["received"] == 3


def test_xlsx_file(store_url, capsys, tmp_path):
    out = tmp_path / "考核.xlsx"
    code, _, err = run(["--level", "township", *PERIOD, "--out", str(out)], capsys, store_url)
    assert code == 0 and "wrote" in err
    book = load_workbook(out)
    sheet = book.worksheets[0]
    assert [c.value for c in sheet[1]][:4] == ["编码", "名称", "受理数", "结案数"]
    assert [c.value for c in sheet[2]][:3] == ["Code", "Name", "Received"]
    assert sheet.freeze_panes == "C3" and sheet["A1"].font.bold
    assert [c.value for c in sheet[3]][:4] == ["1", "东街道", 4, 4]
    rate = sheet.cell(row=3, column=5)
    assert rate.value == pytest.approx(0.75) and rate.number_format == "0.0%"
    about = dict(book.worksheets[1].values)
    assert about["since"] == "2026-11-01" and about["level"] == "township"


def test_bad_level_lists_the_levels(store_url, capsys):
    code, _, err = run(["--level", "street", *PERIOD], capsys, store_url)
    assert code == 2 and "level: 'street' is not one of township, zone" in err


def test_bad_dates_name_the_option(store_url, capsys):
    code, _, err = run(["--level", "zone", "--since", "1/11/2026"], capsys, store_url)
    assert code == 2 and "--since: '1/11/2026' is not a date (YYYY-MM-DD)" in err
    code, _, err = run(["--level", "zone", "--since", "2026-12-01", "--until", "2026-11-01"],
                       capsys, store_url)  # fmt: skip
    assert code == 2 and "--until (2026-11-01) is before --since (2026-12-01)" in err


def test_level_needed_by_grid_and_xlsx_needs_a_file(store_url, capsys):
    code, _, err = run([*PERIOD], capsys, store_url)
    assert code == 2 and "--level: required" in err
    code, _, err = run(["--level", "zone", "--format", "xlsx"], capsys, store_url)
    assert code == 2 and "--out: an Excel file needs a file name" in err
