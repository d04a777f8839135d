"""The README keeps its promises: two commands first, every setting listed."""

from __future__ import annotations

import re
from pathlib import Path

from web.settings import PREFIX, SETTINGS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["make serve", "make test"]
    assert README.index("make serve") < README.index("##")


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "make test" in ci


def test_every_setting_is_in_the_readme_table_with_its_default():
    for setting in SETTINGS:
        row = re.search(rf"^\| `{PREFIX}{setting.name}` \| `([^`]*)` \| (.*) \|$", README, re.M)
        assert row, f"{PREFIX}{setting.name} missing from the README"
        assert row.group(1) == str(setting.default)
        assert row.group(2) == setting.help
