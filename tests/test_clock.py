"""No test depends on the day it runs: the date-sensitive tests pass with the clock a year ahead.

The suite passed on the day it was written and failed two weeks later, because
a test stored tracks on a fixed day and the map asked for "until today". Here
the tests that deal in deadlines, escalation, patrol compliance, risk windows,
the browser's date filters and time filters run once more in a child process
whose clock (the system's, as every library and Chromium see it) is moved a
year ahead by libfaketime (Debian's ``faketime``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Test modules whose outcome could hang on the date: they read the clock, or
#: exercise deadlines, overdue reports, escalation, compliance days, time
#: windows and the map's date filters.
DATE_SENSITIVE = (
    "tests/geogrid/test_workflow.py",
    "tests/geogrid/test_deadlines.py",
    "tests/cli/test_store.py",
    "tests/storage/test_contract.py",
    "tests/patrol/test_compliance.py",
    "tests/patrol/test_cli_web.py",
    "tests/analysis/test_risk.py",
    "tests/analysis/test_cli.py",
    "tests/analysis/test_web.py",
    "tests/web/test_api.py",
    "tests/web/test_open311.py",
    "tests/web/test_ogc.py",
    "tests/web/test_browser.py",
    "tests/cli/test_drafts_cli.py",  # publishing starts the new generation today
    "tests/web/test_work_browser.py",  # overdue and nearly overdue reports, deadlines
    "tests/cli/test_stats_cli.py",  # the default period ends today
)

#: How a test reads the real clock.
READS_THE_CLOCK = re.compile(r"datetime\.now\(|date\.today\(|time\.time\(\)|datetime\.utcnow\(")


def test_every_test_module_that_reads_the_clock_runs_a_year_ahead():
    readers = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if path.name != "test_clock.py" and READS_THE_CLOCK.search(path.read_text("utf-8"))
    }
    assert readers <= set(DATE_SENSITIVE), f"add to DATE_SENSITIVE: {readers - set(DATE_SENSITIVE)}"


def test_date_sensitive_tests_pass_with_the_clock_a_year_ahead():
    faketime = shutil.which("faketime")
    if faketime is None:
        if os.environ.get("CI") == "true":
            pytest.fail("faketime is required under CI (scripts/setup_browser_and_gis.sh)")
        pytest.skip("no faketime here (apt-get install faketime)")
    arguments = ["-q", "-x", "-p", "no:cacheprovider", *DATE_SENSITIVE]
    # Under faketime a timed wait computes its deadline on the faked clock while the
    # kernel waits in real time, so the rate limiter's expiry timers (threads the
    # interpreter waits for at exit) would wait a year: leave as soon as pytest is done.
    # (Keeping the monotonic clock real instead breaks Chromium's page loads.)
    run_and_leave = f"import os, pytest; os._exit(pytest.main({arguments!r}))"
    command = [faketime, "-f", "+365d", sys.executable, "-c", run_and_leave]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_the_clock_really_moves_in_the_child():
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.skip("no faketime here")
    code = "import datetime; print(datetime.date.today().toordinal())"
    ahead = subprocess.run([faketime, "-f", "+365d", sys.executable, "-c", code],
                           capture_output=True, text=True, check=True)  # fmt: skip
    here = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(ahead.stdout) - int(here.stdout) in (364, 365)  # midnight may pass in between


def test_workers_given_one_anchored_clock_setting_read_one_time():
    from datetime import timedelta

    from geogrid.clock import anchored, parse_clock

    setting = anchored("2026-11-20T09:00+08:00")  # what `python -m web` hands its workers
    first, second = parse_clock(setting), parse_clock(setting)  # two workers, started apart
    assert abs(first() - second()) < timedelta(seconds=1)
    assert first().date().isoformat() == "2026-11-20"
