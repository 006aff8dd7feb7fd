"""The daily report's charts (matplotlib, Agg): posture timeline with episodes and alerts, sitting
bouts, and angle distributions per posture.

Each ``draw_*`` function draws on given axes, so the same drawing serves the one-page PNG and the
separate SVGs the HTML page embeds. Quiet styling on purpose: no frames, few gridlines, direct
labels, one colour per posture and per episode kind used the same way everywhere.
"""

from __future__ import annotations

import io
import math
from datetime import datetime
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from posturewatch.analytics.posture import runs  # noqa: E402
from posturewatch.analytics.records import EPISODE_KINDS, Posture  # noqa: E402
from posturewatch.analytics.report_stats import (  # noqa: E402
    LONG_BOUT_S,
    DayData,
    DayStats,
    headline_facts,
)

POSTURE_COLORS = {
    "sitting": "#E3A857",
    "standing": "#5F9EA0",
    "walking": "#7BB274",
    "lying": "#A394C4",
    "unknown": "#E4E4E4",
}
KIND_COLORS = {
    "prolonged_sitting": "#C4603F",
    "posterior_tilt": "#8C4F7A",
    "forward_head": "#2E6A9E",
    "lumbar_bend": "#6B6B6B",
}
KIND_NAMES = {
    "prolonged_sitting": "Long sitting",
    "posterior_tilt": "Pelvis tilted back",
    "forward_head": "Head and upper back forward",
    "lumbar_bend": "Bending with the back",
}
ANGLE_NAMES_PLAIN = {
    "pelvic_tilt": "Pelvic tilt",
    "trunk_inclination": "Upper-back lean",
    "lumbar_flexion": "Lower-back rounding",
}
# where an episode starts to count (the defaults in docs/architecture.md §3), drawn as a reference line
THRESHOLDS = {"pelvic_tilt": -15.0, "trunk_inclination": 20.0}
INK, MUTED, GRID = "#222831", "#6B7280", "#E5E7EB"

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlecolor": INK,
    "xtick.color": MUTED,
    "ytick.color": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "posturewatch",
}


def _num(ts: np.ndarray | float, zone: ZoneInfo):
    """Unix seconds → matplotlib date numbers of the wearer's local wall time."""
    arr = np.atleast_1d(np.asarray(ts, dtype=float))
    if not len(arr):
        return arr
    epoch = mdates.date2num(datetime(1970, 1, 1))

    def offset(x: float) -> float:
        value = datetime.fromtimestamp(x, zone).utcoffset()
        return value.total_seconds() if value is not None else 0.0

    first, last = offset(float(arr.min())), offset(float(arr.max()))
    # per element only when a daylight-saving change falls inside the span (rare)
    shift = first if first == last else np.array([offset(float(x)) for x in arr])
    return epoch + (arr + shift) / 86400.0


def _time_axis(ax: Axes, zone: ZoneInfo, first: float, last: float) -> None:
    lo, hi = _num(np.array([first, last]), zone)
    ax.set_xlim(lo, hi)
    hours = (last - first) / 3600.0
    step = 1 if hours <= 10 else 2 if hours <= 20 else 3
    ax.xaxis.set_major_locator(mdates.HourLocator(interval=step))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)


def draw_timeline(ax: Axes, data: DayData, stats: DayStats) -> None:
    """Posture band, one lane per episode kind, alert markers on top."""
    zone = ZoneInfo(data.tz)
    t = np.asarray(data.t, dtype=float)
    lanes = ["Reminders", "Posture", *[KIND_NAMES[k] for k in EPISODE_KINDS]]
    y = {name: len(lanes) - 1 - i for i, name in enumerate(lanes)}
    if len(t):
        x = _num(t, zone)
        # a gap in the data is a gap on the chart, never a stretched posture
        codes = np.asarray(data.posture, dtype=np.int64)
        segment = np.cumsum(np.concatenate(([0], np.diff(t) > 1.5)))
        starts, lengths, _ = runs(codes + 100 * segment)
        for a, n in zip(starts.tolist(), lengths.tolist(), strict=True):
            code = int(codes[a])
            label = Posture(code).label
            x0 = x[a]
            x1 = x[a + n - 1] + 1 / 86400.0
            ax.broken_barh([(x0, x1 - x0)], (y["Posture"] - 0.38, 0.76),
                           facecolors=POSTURE_COLORS.get(label, POSTURE_COLORS["unknown"]), linewidth=0)
    for kind in EPISODE_KINDS:
        eps = [e for e in data.episodes if e.kind == kind]
        row = y[KIND_NAMES[kind]]
        for e in eps:
            end = e.end if e.end is not None else stats.last
            x0, x1 = _num(np.array([e.start, max(end, e.start + 20)]), zone)
            ax.broken_barh([(x0, x1 - x0)], (row - 0.28, 0.56), facecolors=KIND_COLORS[kind], linewidth=0)
    for a in data.alerts:
        ax.plot(_num(a.ts, zone), [y["Reminders"]], marker="v", markersize=7, linestyle="none",
                color=KIND_COLORS.get(a.kind, INK), markeredgewidth=0)
    ax.set_yticks([y[n] for n in lanes], lanes)
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    if math.isfinite(stats.first):
        _time_axis(ax, zone, stats.first, stats.last)
    handles = [plt.Rectangle((0, 0), 1, 1, color=POSTURE_COLORS[p]) for p in
               ("sitting", "standing", "walking", "lying", "unknown")]
    ax.legend(handles, ["sitting", "standing", "walking", "lying", "no data"], ncol=5, frameon=False,
              loc="upper left", bbox_to_anchor=(0, -0.12), handlelength=1.2, fontsize=9)


def draw_bouts(ax: Axes, data: DayData, stats: DayStats) -> None:
    """Each sitting bout as a bar across its time span, height = its length in minutes."""
    zone = ZoneInfo(data.tz)
    limit = LONG_BOUT_S / 60.0
    top = limit * 1.3
    for bout in stats.bouts:
        x0, x1 = _num(np.array([bout.start, bout.end]), zone)
        minutes = bout.duration_s / 60.0
        long = bout.duration_s >= LONG_BOUT_S
        color = KIND_COLORS["prolonged_sitting"] if long else POSTURE_COLORS["sitting"]
        ax.bar(x0, minutes, width=x1 - x0, align="edge", color=color, linewidth=0)
        if minutes >= 5:
            ax.text(x0 + (x1 - x0) / 2, minutes + 1, f"{minutes:.0f}", ha="center", va="bottom",
                    fontsize=8, color=INK)
        top = max(top, minutes * 1.18)
    ax.axhline(limit, color=MUTED, linestyle=(0, (4, 3)), linewidth=1)
    ax.text(1.0, limit, " 30 min", transform=ax.get_yaxis_transform(), va="center", ha="left",
            fontsize=8.5, color=MUTED)
    ax.set_ylim(0, top)
    ax.set_ylabel("minutes in the chair")
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    if math.isfinite(stats.first):
        _time_axis(ax, zone, stats.first, stats.last)


def draw_distributions(axes, stats: DayStats) -> None:
    """Histograms (share of time, %) per angle for sitting and standing."""
    postures = ("sitting", "standing")
    for ax, angle in zip(axes, ANGLE_NAMES_PLAIN, strict=True):
        values = [stats.distributions.get(p, {}).get(angle, np.zeros(0)) for p in postures]
        finite = [v[np.isfinite(v)] for v in values]
        both = np.concatenate(finite) if any(len(v) for v in finite) else np.zeros(0)
        if len(both):
            lo, hi = np.percentile(both, [0.5, 99.5])
            lo, hi = math.floor(min(lo, THRESHOLDS.get(angle, lo)) / 5) * 5 - 5, math.ceil(
                max(hi, THRESHOLDS.get(angle, hi)) / 5) * 5 + 5
            bins = np.arange(lo, hi + 2.5, 2.5)
            for posture, v in zip(postures, finite, strict=True):
                if len(v):
                    weights = np.full(len(v), 100.0 / len(v))
                    ax.hist(v, bins=bins, weights=weights, histtype="stepfilled", alpha=0.45,
                            color=POSTURE_COLORS[posture], label=posture, linewidth=0)
                    ax.hist(v, bins=bins, weights=weights, histtype="step",
                            color=POSTURE_COLORS[posture], linewidth=1.4)
        if angle in THRESHOLDS:
            ax.axvline(THRESHOLDS[angle], color=MUTED, linestyle=(0, (4, 3)), linewidth=1)
        ax.set_title(ANGLE_NAMES_PLAIN[angle], fontsize=10)
        ax.set_xlabel("degrees")
        ax.grid(axis="y", color=GRID, linewidth=0.8)
        ax.set_axisbelow(True)
    axes[0].set_ylabel("% of the time in that posture")
    handles = [plt.Rectangle((0, 0), 1, 1, color=POSTURE_COLORS[p], alpha=0.6) for p in postures]
    axes[-1].legend(handles, postures, frameon=False, fontsize=9, loc="upper right")


def timeline_figure(data: DayData, stats: DayStats) -> Figure:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10, 3.0), layout="constrained")
        draw_timeline(ax, data, stats)
    return fig


def bouts_figure(data: DayData, stats: DayStats) -> Figure:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10, 2.6), layout="constrained")
        draw_bouts(ax, data, stats)
    return fig


def distributions_figure(stats: DayStats) -> Figure:
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), layout="constrained", sharey=True)
        draw_distributions(axes, stats)
    return fig


def page_figure(data: DayData, stats: DayStats, headline: str) -> Figure:
    """Everything on one page, for the PNG: headline facts, then the three charts."""
    facts = headline_facts(stats, data.tz)
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(10, 11.6), layout="constrained")
        grid = fig.add_gridspec(4, 3, height_ratios=[0.55 + 0.22 * len(facts), 3.0, 2.4, 2.4])
        top = fig.add_subplot(grid[0, :])
        top.axis("off")
        # from the page's left edge, not the axes' (the lane labels take room there)
        edge = blended_transform_factory(fig.transFigure, top.transAxes)
        top.text(0.012, 1, headline, ha="left", va="top", fontsize=14, fontweight="bold", color=INK,
                 transform=edge)
        top.text(0.012, 0.62, "\n".join(facts), ha="left", va="top", fontsize=10, color=INK,
                 linespacing=1.6, transform=edge)
        ax = fig.add_subplot(grid[1, :])
        ax.set_title("Your day: posture, episodes and reminders")
        draw_timeline(ax, data, stats)
        ax = fig.add_subplot(grid[2, :])
        ax.set_title("Sitting bouts (a bout ends after a break of at least 1 minute)")
        draw_bouts(ax, data, stats)
        axes = [fig.add_subplot(grid[3, 0])]
        axes += [fig.add_subplot(grid[3, i], sharey=axes[0]) for i in (1, 2)]
        draw_distributions(axes, stats)
    return fig


def to_bytes(fig: Figure, fmt: str, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return buf.getvalue()
