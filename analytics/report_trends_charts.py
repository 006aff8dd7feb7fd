"""The trends report's charts (matplotlib, Agg): the daily figures as small multiples, the one-page
PNG, and the printable PDF (matplotlib's PdfPages: pages drawn here, no browser needed to print).

One small panel per daily figure, same days on every x axis; the period's average as a dashed
line, the period before it as a faint one, and training goals as a stepped line where they apply.
"""

from __future__ import annotations

import math
import textwrap
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure as MplFigure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from posturewatch.analytics.report_charts import GRID, INK, KIND_COLORS, MUTED, POSTURE_COLORS, STYLE
from posturewatch.analytics.trends import MIN_WEAR_MIN, Figure, TrendData, format_value

COLORS = {
    "sitting_min": POSTURE_COLORS["sitting"],
    "long_bouts": KIND_COLORS["prolonged_sitting"],
    "longest_bout_min": KIND_COLORS["prolonged_sitting"],
    "breaks_per_sitting_h": POSTURE_COLORS["standing"],
    "slumped_pct": KIND_COLORS["posterior_tilt"],
    "forward_head_min": KIND_COLORS["forward_head"],
    "lumbar_bends": KIND_COLORS["lumbar_bend"],
    "sit_to_stand": POSTURE_COLORS["standing"],
    "steps": POSTURE_COLORS["walking"],
    "response_rate_pct": "#2E6A9E",
    "wear_min": "#9AA5B1",
}
GOAL_COLOR = "#1F7A4D"
A4 = (8.27, 11.69)


def _day_labels(days: list[str]) -> list[str]:
    if len(days) <= 10:
        return [date.fromisoformat(d).strftime("%a\n%-d %b") for d in days]
    step = 3 if len(days) <= 21 else 7
    return [date.fromisoformat(d).strftime("%-d %b") if i % step == 0 else "" for i, d in enumerate(days)]


def _axis_unit(fig: Figure, top: float) -> tuple[float, str]:
    """Scale and unit the panel's y axis is drawn in (minutes shown as hours when long)."""
    if fig.unit == "min":
        return (1 / 60, "h") if top > 150 else (1.0, "min")
    return 1.0, {"pct": "%", "per_h": "/h", "count": ""}[fig.unit]


def draw_panel(ax: Axes, trend: TrendData, fig: Figure) -> None:
    values = trend.series(fig.name)
    worn = np.array([trend.figures[d].get("wear_min", 0.0) >= MIN_WEAR_MIN for d in trend.days])
    finite = np.isfinite(values)
    top = float(np.nanmax(values)) if finite.any() else 1.0
    scale, unit = _axis_unit(fig, top)
    x = np.arange(len(trend.days))
    color = COLORS.get(fig.name, INK)
    shown = np.where(finite, values, 0.0) * scale
    ax.bar(x[worn], shown[worn], width=0.72, color=color, linewidth=0)
    ax.bar(x[~worn & finite], shown[~worn & finite], width=0.72, color="#D9DDE3", linewidth=0)
    for i in np.flatnonzero(~finite):
        ax.text(x[i], 0, "–", ha="center", va="bottom", fontsize=8, color=MUTED)
    average = trend.average(fig.name)
    if math.isfinite(average):
        ax.axhline(average * scale, color=INK, linestyle=(0, (4, 3)), linewidth=1)
    before = trend.average(fig.name, trend.before) if trend.worn_days(trend.before) else math.nan
    if math.isfinite(before):
        ax.axhline(before * scale, color=MUTED, linewidth=2.2, alpha=0.35)
    goal = _goal_line(trend, fig.name)
    if goal is not None:
        ax.step(np.concatenate((x - 0.5, [x[-1] + 0.5])), np.append(goal, goal[-1]) * scale, where="post",
                color=GOAL_COLOR, linewidth=1.6)
    ax.set_title(fig.label, fontsize=9.5, pad=15)
    ax.text(0, 1.03, f"average {format_value(fig, average)}", transform=ax.transAxes, fontsize=8.5,
            color=MUTED, va="bottom", ha="left")
    ax.set_xticks(x, _day_labels(trend.days), fontsize=7.5)
    ax.set_xlim(-0.6, len(x) - 0.4)
    ax.tick_params(axis="x", length=0)
    ax.yaxis.set_major_locator(MaxNLocator(4, integer=fig.unit == "count"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}{' ' + unit if unit else ''}"))
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    ceiling = max(top * scale, (goal.max() * scale if goal is not None else 0.0),
                  (before * scale if math.isfinite(before) else 0.0))
    ax.set_ylim(0, ceiling * 1.15 if ceiling > 0 else 1.0)


def _goal_line(trend: TrendData, name: str) -> np.ndarray | None:
    if trend.goals is None or name not in ("longest_bout_min", "slumped_pct"):
        return None
    line = []
    for day in trend.days:
        g = trend.goals.of(day)
        line.append(math.nan if g is None else
                    g.sitting_bout_max_min if name == "longest_bout_min" else g.slumped_max_pct)
    goal = np.array(line, float)
    return goal if np.isfinite(goal).any() else None


def _legend(fig: MplFigure, trend: TrendData, y: float) -> None:
    handles = [plt.Line2D([], [], color=INK, linestyle=(0, (4, 3)), linewidth=1),
               plt.Line2D([], [], color=MUTED, linewidth=2.2, alpha=0.35),
               plt.Rectangle((0, 0), 1, 1, color="#D9DDE3")]
    labels = ["average of the period", "average of the period before", "too little wear to count"]
    if trend.goals is not None:
        handles.append(plt.Line2D([], [], color=GOAL_COLOR, linewidth=1.6))
        labels.append("your goal")
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, y), ncol=len(labels),
               frameon=False, fontsize=8.5)


def draw_multiples(fig: MplFigure, trend: TrendData, spec) -> None:
    figures = trend.present()
    cols = 3
    rows = max(1, math.ceil(len(figures) / cols))
    grid = spec.subgridspec(rows, cols, hspace=0.9, wspace=0.32)
    for i, f in enumerate(figures):
        draw_panel(fig.add_subplot(grid[i // cols, i % cols]), trend, f)


def multiples_figure(trend: TrendData) -> MplFigure:
    rows = max(1, math.ceil(len(trend.present()) / 3))
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(10, 1.95 * rows + 0.5))
        fig.subplots_adjust(left=0.06, right=0.98, top=0.95, bottom=0.14 / rows + 0.06)
        draw_multiples(fig, trend, fig.add_gridspec(1, 1)[0])
        _legend(fig, trend, 0.0)
    return fig


def _text_block(ax: Axes, lines: list[str], y: float, width: int, size: float = 10.0,
                bullet: str = "•  ") -> float:
    """Wrapped sentences from ``y`` down (axes fraction); returns where the next block may start."""
    step = size / 72 / (ax.figure.get_figheight() * ax.get_position().height) * 1.5
    for line in lines:
        wrapped = textwrap.wrap(line, width) or [""]
        for j, part in enumerate(wrapped):
            ax.text(0.0, y, (bullet if j == 0 else " " * (len(bullet) + 1)) + part, ha="left", va="top",
                    fontsize=size, color=INK, transform=ax.transAxes)
            y -= step
        y -= step * 0.35
    return y


def page_figure(trend: TrendData, headline: str, habits: list[str], goals: list[str]) -> MplFigure:
    """The one-page PNG: headline, the habits and goals in words, then the small multiples."""
    rows = max(1, math.ceil(len(trend.present()) / 3))
    # the text block's height in inches, as _text_block will lay it out (10 pt, 1.5 line spacing)
    line_in = 10 / 72 * 1.5
    wrapped = sum(len(textwrap.wrap(s, 120)) for s in habits + goals)
    text_h = 0.62 + line_in * (wrapped + 0.35 * len(habits + goals)) + (0.25 if goals else 0.0)
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(10, text_h + 2.0 * rows + 0.6))
        spec = fig.add_gridspec(2, 1, height_ratios=[text_h, 2.0 * rows], left=0.06, right=0.98,
                                top=0.985, bottom=0.035 + 0.25 / (text_h + 2.0 * rows), hspace=0.12)
        top = fig.add_subplot(spec[0])
        top.axis("off")
        top.text(0.0, 1.0, headline, ha="left", va="top", fontsize=15, fontweight="bold", color=INK,
                 transform=top.transAxes)
        y = _text_block(top, habits, 1.0 - 0.42 / text_h, 120)
        if goals:
            _text_block(top, goals, y - 0.12 / text_h, 120, bullet="◆  ")
        draw_multiples(fig, trend, spec[1])
        _legend(fig, trend, 0.0)
    return fig


def write_pdf(path: Path, trend: TrendData, headline: str, subtitle: str, habits: list[str],
              goals: list[str], table: list[tuple[str, str, str]]) -> int:
    """A4 pages: the week in words with the averages table, then the charts. Returns the page count."""
    with plt.rc_context(STYLE), PdfPages(path, metadata={"Title": headline, "Creator": "posturewatch",
                                                         "CreationDate": None}) as pdf:
        fig = plt.figure(figsize=A4)
        ax = fig.add_axes((0.08, 0.05, 0.84, 0.9))
        ax.axis("off")
        ax.text(0, 1, headline, fontsize=16, fontweight="bold", va="top", color=INK, transform=ax.transAxes)
        ax.text(0, 0.965, subtitle, fontsize=9.5, va="top", color=MUTED, transform=ax.transAxes)
        ax.text(0, 0.92, "Your habits", fontsize=12, fontweight="bold", va="top", transform=ax.transAxes)
        y = _text_block(ax, habits, 0.89, 88)
        if goals:
            ax.text(0, y - 0.01, "Your goals", fontsize=12, fontweight="bold", va="top",
                    transform=ax.transAxes)
            y = _text_block(ax, goals, y - 0.04, 88, bullet="◆  ")
        ax.text(0, y - 0.01, "Averages per day", fontsize=12, fontweight="bold", va="top",
                transform=ax.transAxes)
        rows = [["", "this period", "the period before"], *[list(r) for r in table]]
        # rows shrink to fit above the footer when the text above took much of the page
        row_h = min(0.03, (y - 0.05 - 0.035) / len(rows))
        height = row_h * len(rows)
        tab = ax.table(cellText=rows, loc="upper left", bbox=(0, y - 0.05 - height, 1, height),
                       edges="horizontal")
        tab.auto_set_font_size(False)
        tab.set_fontsize(9.5)
        for (r, c), cell in tab.get_celld().items():
            cell.set_edgecolor(GRID)
            cell.get_text().set_ha("left" if c == 0 else "right")
            if r == 0:
                cell.get_text().set_color(MUTED)
        ax.text(0, 0.0, "This report describes habits; it is not a diagnosis. Talk to your "
                "physiotherapist about what the numbers mean for you.", fontsize=8.5, color=MUTED,
                transform=ax.transAxes)
        pdf.savefig(fig)
        plt.close(fig)
        fig = plt.figure(figsize=A4)
        fig.text(0.06, 0.975, "Day by day", fontsize=13, fontweight="bold", va="top", color=INK)
        spec = fig.add_gridspec(1, 1, left=0.08, right=0.97, top=0.9, bottom=0.07)[0]
        figures = trend.present()
        rows_n = max(1, math.ceil(len(figures) / 2))
        grid = spec.subgridspec(rows_n, 2, hspace=0.85, wspace=0.3)
        for i, f in enumerate(figures):
            draw_panel(fig.add_subplot(grid[i // 2, i % 2]), trend, f)
        _legend(fig, trend, 0.005)
        pdf.savefig(fig)
        plt.close(fig)
        return pdf.get_pagecount()
