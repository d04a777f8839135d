"""The printable four-colour map (四色安全风险分布图): PNG or PDF, for the wall and for reports.

It is drawn in metres (the district's CGCS2000 Gauss-Krüger zone), so shapes are
true and the scale bar measures the ground; north is up. It has a title, the
date, a legend (红 重大 / 橙 较大 / 黄 一般 / 蓝 低, with grid counts), a north
arrow, a scale bar and the parent level's boundaries. Chinese text needs a CJK
font: Noto Sans CJK is looked up with matplotlib's font manager (and the
system's font folders, when matplotlib's font cache predates the font).

Matplotlib's object API is used (no pyplot), so maps can be drawn from worker
threads of the web app.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np

from geogrid.analysis.risk import RiskColour
from geogrid.crs import metric_crs
from geogrid.errors import GeogridError, InputError

#: CJK fonts to look for, best first.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
             "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei",
             "Noto Sans CJK JP", "Noto Serif CJK SC")  # fmt: skip
FORMATS = (".png", ".pdf")
PAGE_INCHES = (11.69, 8.27)  # A4 landscape
NICE_LENGTHS_M = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 50_000)


class FontNotFoundError(GeogridError):
    """No font with Chinese glyphs is installed."""


@lru_cache(maxsize=1)
def chinese_font() -> str:
    """The family name of an installed font with Chinese glyphs (Noto Sans CJK SC first).

    Examples
    --------
    >>> "CJK" in chinese_font() or "Hei" in chinese_font() or "Han" in chinese_font()
    True
    """
    from matplotlib import font_manager

    found = _first_known(font_manager)
    if found is None:
        # matplotlib's font cache may predate the font: look in the system's folders.
        for path in font_manager.findSystemFonts():
            if any(key in Path(path).name for key in ("CJK", "SourceHan", "wqy", "SimHei")):
                font_manager.fontManager.addfont(path)
        found = _first_known(font_manager)
    if found is None:
        raise FontNotFoundError("no Chinese font found; install Noto Sans CJK (fonts-noto-cjk)")
    return found


def _first_known(font_manager) -> str | None:
    names = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in names), None)


def save_risk_map(
    frame: gpd.GeoDataFrame,
    path: str | Path,
    *,
    title: str,
    as_of: date | datetime,
    outline: gpd.GeoDataFrame | None = None,
    note: str = "",
    dpi: int = 200,
) -> Path:
    """Draw a four-colour map and write it as PNG or PDF (by the suffix of ``path``).

    Parameters
    ----------
    frame : GeoDataFrame
        Grids with ``colour`` (red/orange/yellow/blue), as from
        :func:`geogrid.analysis.risk.colour_grids`; ``name`` is written on the
        grids when there are at most 40.
    path : str or Path
        Output file, ``.png`` or ``.pdf``.
    title : str
        The title, e.g. "示范区 四色安全风险分布图（网格）".
    as_of : date or datetime
        The date the colours are for (printed under the title).
    outline : GeoDataFrame, optional
        Boundaries drawn over the grids (e.g. the parent level's).
    note : str
        A line at the foot of the page (rules, source).
    dpi : int
        Resolution of a PNG.

    Examples
    --------
    >>> import tempfile
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame({"name": ["甲", "乙"], "colour": ["red", "blue"]},
    ...     geometry=[box(120.0, 28.0, 120.01, 28.01), box(120.01, 28.0, 120.02, 28.01)], crs=4326)
    >>> out = save_risk_map(grids, f"{tempfile.mkdtemp()}/map.png", title="示例", as_of=date(2026, 11, 23),
    ...                     dpi=50)
    >>> out.read_bytes()[:4] == b"\\x89PNG"
    True
    """  # noqa: E501
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise InputError(f"out: {path.name} must end in .png or .pdf")
    if "colour" not in frame or len(frame) == 0:
        raise InputError("frame: needs grids with a 'colour' column")
    figure = risk_map_figure(frame, title=title, as_of=as_of, outline=outline, note=note)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, metadata=_metadata(path, title))
    return path


def _metadata(path: Path, title: str) -> dict:
    return {"Title": title, "Software" if path.suffix.lower() == ".png" else "Creator": "geogrid"}


def risk_map_figure(
    frame: gpd.GeoDataFrame,
    *,
    title: str,
    as_of: date | datetime,
    outline: gpd.GeoDataFrame | None = None,
    note: str = "",
):
    """The four-colour map as a matplotlib Figure (see :func:`save_risk_map`)."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    crs = metric_crs(float(np.mean(frame.to_crs(4326).total_bounds[[0, 2]])))
    grids = frame.to_crs(crs)
    with rc_context({"font.family": [chinese_font(), "DejaVu Sans"], "pdf.fonttype": 42}):
        figure = Figure(figsize=PAGE_INCHES)
        axes = figure.add_axes((0.03, 0.08, 0.72, 0.80))
        _draw_grids(axes, grids, None if outline is None else outline.to_crs(crs))
        _north_arrow(axes)
        _scale_bar(axes)
        _legend(figure, grids)
        scale = f"{crs.name} · 比例尺约 scale ≈ 1:{scale_denominator(frame):,}"
        _titles(figure, title, as_of, scale, note)
    return figure


def _draw_grids(axes, grids: gpd.GeoDataFrame, outline: gpd.GeoDataFrame | None) -> None:
    fills = [RiskColour[str(c).upper()].hex for c in grids["colour"]]
    grids.plot(ax=axes, color=fills, edgecolor="white", linewidth=0.4)
    if outline is not None:
        outline.boundary.plot(ax=axes, color="#333333", linewidth=1.2)
    if "name" in grids and len(grids) <= 40:
        for point, name in zip(grids.geometry.representative_point(), grids["name"], strict=True):
            axes.annotate(str(name), (point.x, point.y), ha="center", va="center", fontsize=7,
                          color="#222222")  # fmt: skip
    axes.set_aspect("equal")
    axes.set_axis_off()
    west, south, east, north = grids.total_bounds
    pad = 0.04 * max(east - west, north - south)
    axes.set_xlim(west - pad, east + pad)
    axes.set_ylim(south - 3 * pad, north + pad)  # room for the scale bar below the district


def _north_arrow(axes) -> None:
    axes.annotate("", xy=(0.95, 0.97), xytext=(0.95, 0.87), xycoords="axes fraction",
                  arrowprops={"facecolor": "black", "width": 4, "headwidth": 12})  # fmt: skip
    axes.text(0.95, 0.985, "北 N", transform=axes.transAxes, ha="center", va="bottom",
              fontsize=11, fontweight="bold")  # fmt: skip


def _scale_bar(axes) -> None:
    """A bar of a round length, about a fifth of the map's width, in two halves."""
    from matplotlib.patches import Rectangle

    west, east = axes.get_xlim()
    south, north = axes.get_ylim()
    length = nice_length(0.2 * (east - west))
    x0, y0 = west + 0.03 * (east - west), south + 0.02 * (north - south)
    height = 0.008 * (north - south)
    for i, colour in enumerate(("black", "white")):
        axes.add_patch(Rectangle((x0 + i * length / 2, y0), length / 2, height, facecolor=colour,
                                 edgecolor="black", linewidth=0.8))  # fmt: skip
    for offset, label in (
        (0, "0"),
        (length / 2, _distance(length / 2)),
        (length, _distance(length)),
    ):
        axes.text(x0 + offset, y0 + 2.5 * height, label, ha="center", va="bottom", fontsize=8)


def nice_length(target_m: float) -> float:
    """The longest round length (1, 2, 2.5 or 5 × 10ⁿ metres) not above ``target_m``.

    Examples
    --------
    >>> nice_length(1234), nice_length(480), nice_length(30)
    (1000, 250, 50)
    """
    fitting = [n for n in NICE_LENGTHS_M if n <= target_m]
    return fitting[-1] if fitting else NICE_LENGTHS_M[0]


def _distance(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def _legend(figure, grids: gpd.GeoDataFrame) -> None:
    from matplotlib.patches import Patch

    counts = grids["colour"].value_counts()
    handles = [
        Patch(facecolor=c.hex, edgecolor="#666666",
              label=f"{c.zh} {c.grade_zh}风险  {c.grade_en} ({int(counts.get(c.key, 0))})")
        for c in sorted(RiskColour, reverse=True)
    ]  # fmt: skip
    figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.77, 0.80), fontsize=11,
                  title="图例 Legend（网格数 grids）", title_fontsize=11, frameon=False,
                  handlelength=2.2, handleheight=1.6, labelspacing=1.0)  # fmt: skip


def _titles(figure, title: str, as_of: date | datetime, crs_name: str, note: str) -> None:
    """Title, date and the foot line (CRS, scale, note)."""
    day = as_of.date() if isinstance(as_of, datetime) else as_of
    figure.text(0.03, 0.95, title, fontsize=20, fontweight="bold", va="center")
    figure.text(0.03, 0.905, f"截至 {day.year}年{day.month}月{day.day}日 · as of {day.isoformat()}",
                fontsize=12, va="center", color="#333333")  # fmt: skip
    footer = f"坐标系 CRS: {crs_name}" + (f" · {note}" if note else "")
    figure.text(0.03, 0.03, footer, fontsize=8, color="#555555", wrap=True)


def scale_denominator(frame: gpd.GeoDataFrame, width_inches: float = 0.72 * PAGE_INCHES[0]) -> int:
    """The map's scale 1 : n on an A4 page, rounded (for a caption).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> frame = gpd.GeoDataFrame(geometry=[box(120.0, 28.0, 120.05, 28.02)], crs=4326)
    >>> scale_denominator(frame)
    25000
    """
    metric = frame.to_crs(metric_crs(float(np.mean(frame.total_bounds[[0, 2]]))))
    west, _, east, _ = metric.total_bounds
    raw = (east - west) * 1.08 / (width_inches * 0.0254)
    step = 10 ** max(3, int(math.log10(raw)) - 1)
    return int(round(raw / step) * step)
