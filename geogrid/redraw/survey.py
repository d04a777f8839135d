"""A household survey: new weights for the units of a redraw (户数 and 人口 as surveyed).

Districts count households before they redraw ("摸排户数 → 实地走线 → 合并拆分 → 报送审核").
A survey is a CSV with one row per unit: its ``code``, then numeric columns (households,
population, buildings …) and an optional ``compound`` (小区) column. Its figures replace the
units' attributes in the draft; units the survey does not list keep their own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from geogrid.errors import InputError
from geogrid.hierarchy import Hierarchy

#: The column that names a unit's residential compound (小区); blank when none.
COMPOUND = "compound"


def read_survey(path: str | Path) -> pd.DataFrame:
    """Read a survey CSV into a frame indexed by unit code, checked column by column.

    Examples
    --------
    >>> survey = read_survey("data/boundaries/survey-2027.csv")
    >>> list(survey.columns)
    ['households', 'population', 'buildings', 'compound']
    >>> survey["households"].dtype.kind
    'f'
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such survey file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: not a readable CSV survey ({exc})") from None
    return survey_frame(raw, str(path))


def survey_frame(raw: pd.DataFrame, what: str = "survey") -> pd.DataFrame:
    """Check a survey's text columns and turn its figures into numbers.

    Examples
    --------
    >>> raw = pd.DataFrame({"code": ["A1", "A2"], "households": ["40", "52"]})
    >>> survey_frame(raw)["households"].tolist()
    [40.0, 52.0]
    >>> survey_frame(pd.DataFrame({"code": ["A1"], "households": ["many"]}))
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: survey: column 'households', row 2: 'many' is not a number
    """
    if "code" not in raw.columns:
        raise InputError(f"{what}: no 'code' column (columns: {', '.join(raw.columns)})")
    codes = raw["code"].astype(str).str.strip()
    if (codes == "").any():
        raise InputError(f"{what}: column 'code', row {_row(codes == '')}: blank unit code")
    if codes.duplicated().any():
        first = codes[codes.duplicated()].iloc[0]
        raise InputError(f"{what}: unit {first} is listed twice")
    frame = pd.DataFrame(index=pd.Index(codes, name="code"))
    for column in raw.columns.drop("code"):
        values = raw[column].astype(str).str.strip()
        frame[column] = values.to_numpy() if column == COMPOUND else _numbers(values, column, what)
    return frame


def _numbers(values: pd.Series, column: str, what: str) -> np.ndarray:
    numbers = pd.to_numeric(values.replace("", np.nan), errors="coerce").to_numpy(float)
    bad = np.isnan(numbers) & (values != "").to_numpy() | np.isinf(numbers)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what}: column {column!r}, row {position + 2}: "
                         f"{values.iloc[position]!r} is not a number")  # fmt: skip
    if (numbers < 0).any():
        raise InputError(f"{what}: column {column!r}, row {_row(numbers < 0)}: negative")
    return numbers


def _row(mask) -> int:
    """The file's row number (header is row 1) of the first true entry."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 2


def apply_survey(hierarchy: Hierarchy, level: str, survey: pd.DataFrame) -> Hierarchy:
    """The hierarchy with the surveyed figures written onto the grids of one level.

    Why: a redraw made from a survey must publish the survey's figures, so the new
    generation's units say what was counted, not what last year's files said. Every
    level above takes the change of its units (a grid, its community and street gain
    the households their units gained), so totals stay true where the parent's own
    outline and grids do not change. Units the survey does not list keep their values;
    a survey code that is not a grid of ``level`` is refused, with the first few named.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> surveyed = apply_survey(h, "microgrid", read_survey("data/boundaries/survey-2027.csv"))
    >>> grown = surveyed.grids("microgrid").set_index("code").loc["330399001010003003"]
    >>> int(grown["households"]), grown["compound"]
    (196, '晖映家园')
    >>> community = surveyed.grids("community").set_index("code").loc["330399001010"]
    >>> int(community["households"]) - int(h.find("330399001010")[1]["households"].iloc[0])
    2039
    """
    grids = hierarchy.grids(level)
    unknown = survey.index.difference(grids["code"])
    if len(unknown):
        raise InputError(f"survey: {len(unknown)} codes are not {level} grids, e.g. "
                         f"{', '.join(unknown[:3])}")  # fmt: skip
    row_of = pd.Series(np.arange(len(grids)), index=grids["code"])
    rows = row_of[survey.index].to_numpy()
    before = grids.copy()
    for column in survey.columns:
        values = survey[column].to_numpy()
        if column not in grids.columns:
            grids[column] = "" if column == COMPOUND else np.nan
        if column == COMPOUND:
            grids[column] = grids[column].astype(object)
        # A blank cell is a figure the survey did not take: the unit keeps its own.
        taken = values != "" if column == COMPOUND else ~np.isnan(values.astype(float))
        grids.iloc[rows[taken], grids.columns.get_loc(column)] = values[taken]
    known = hierarchy.level(level)
    added = tuple(c for c in survey.columns if c not in known.attributes)
    levels = [replace(hierarchy.level(k), attributes=(*known.attributes, *added)) if k == level
              else hierarchy.level(k) for k in hierarchy.levels]  # fmt: skip
    frames = {k: grids if k == level else hierarchy.grids(k) for k in hierarchy.levels}
    _carry_up(hierarchy.levels[: hierarchy.levels.index(level)], frames, before, grids)
    return Hierarchy(levels, frames, name=hierarchy.name, roads=hierarchy.roads())


def _carry_up(above: list[str], frames: dict, before: pd.DataFrame, after: pd.DataFrame) -> None:
    """Add each unit's change in its figures to its parent, grandparent … (``above``: top first)."""
    numeric = [c for c in before.columns if c in after.columns and c != "geometry"
               and pd.api.types.is_numeric_dtype(before[c])]  # fmt: skip
    change = (after[numeric].astype(float) - before[numeric].astype(float)).fillna(0.0)
    change["parent"] = after["parent"].to_numpy()
    for key in reversed(above):
        frame = frames[key]
        by_parent = change.groupby("parent")[numeric].sum().rename_axis("code")
        rows = frame["code"].isin(by_parent.index).to_numpy()
        for column in [c for c in numeric if c in frame.columns]:
            added = frame.loc[rows, "code"].map(by_parent[column]).to_numpy()
            frame.loc[rows, column] = frame.loc[rows, column].to_numpy(float) + added
        change = by_parent.join(frame.set_index("code")["parent"], how="left")
