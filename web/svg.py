"""Small inline SVG charts sized for a phone: the day's timeline and per-figure bar sparklines.

Drawn here rather than embedding the report's matplotlib figures, whose 10-inch layout turns
into unreadably small text on a 390-pixel screen. Colours are the report's, so a posture or an
episode kind looks the same in the report, on Grafana's dashboard and here. Every chart is an
``role="img"`` with a text alternative; the numbers are also in the tables next to it.
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

import numpy as np

from posturewatch.analytics.posture import runs
from posturewatch.analytics.records import EPISODE_KINDS, Posture
from posturewatch.analytics.report_charts import KIND_COLORS, KIND_NAMES, POSTURE_COLORS
from posturewatch.analytics.report_stats import DayData, DayStats

INK, MUTED = "#1F2933", "#52606D"
# about one SVG unit per CSS pixel on a phone, so 11-unit text reads as 11 px there
WIDTH, LEFT = 360, 84
LANE, GAP = 14, 5
LANE_NAMES = {"prolonged_sitting": "Long sitting", "posterior_tilt": "Pelvis back",
              "forward_head": "Head forward", "lumbar_bend": "Back bends"}


def _clock(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%H:%M")


def timeline(data: DayData, stats: DayStats) -> str:
    """Posture band, one lane per episode kind, reminder ticks, hour labels."""
    if not len(data.t):
        return ""
    zone = ZoneInfo(data.tz)
    t0, t1 = float(data.t[0]), float(data.t[-1]) + 1.0
    span = max(t1 - t0, 60.0)
    plot = WIDTH - LEFT - 8

    def x(ts: float) -> float:
        return LEFT + (min(max(ts, t0), t1) - t0) / span * plot

    parts: list[str] = []
    rows = ["Posture", *[LANE_NAMES.get(k, KIND_NAMES.get(k, k)) for k in EPISODE_KINDS], "Reminders"]
    height = len(rows) * (LANE + GAP) + 24
    for i, label in enumerate(rows):
        y = i * (LANE + GAP)
        parts.append(f'<text x="{LEFT - 6}" y="{y + LANE - 4}" text-anchor="end" font-size="11" '
                     f'fill="{INK}">{escape(label)}</text>')
        parts.append(f'<rect x="{LEFT}" y="{y}" width="{plot}" height="{LANE}" fill="#F3F4F6"/>')
    # posture runs on the 1 s grid (missing seconds are "unknown")
    t = np.asarray(data.t, dtype=np.int64)
    grid = np.full(int(t[-1] - t[0]) + 1, int(Posture.UNKNOWN), np.int8)
    grid[t - t[0]] = np.asarray(data.posture, dtype=np.int8)
    starts, lengths, values = runs(grid)
    min_s = span / plot * 0.5  # narrower than half a pixel: invisible anyway
    for a, n, v in zip(starts.tolist(), lengths.tolist(), values.tolist(), strict=True):
        label = Posture(int(v)).label
        if n < min_s or label == "unknown":
            continue
        color = POSTURE_COLORS.get(label, "#C9C9C9")
        parts.append(f'<rect x="{x(t0 + a):.1f}" y="0" width="{max(n / span * plot, 0.5):.1f}" '
                     f'height="{LANE}" fill="{color}"/>')
    for ep in data.episodes:
        if ep.kind not in EPISODE_KINDS:
            continue
        y = (1 + EPISODE_KINDS.index(ep.kind)) * (LANE + GAP)
        end = ep.end if ep.end is not None else t1
        parts.append(f'<rect x="{x(ep.start):.1f}" y="{y}" width="{max(x(end) - x(ep.start), 1.5):.1f}" '
                     f'height="{LANE}" fill="{KIND_COLORS.get(ep.kind, MUTED)}"/>')
    y = (len(rows) - 1) * (LANE + GAP)
    for alert in data.alerts:
        parts.append(f'<rect x="{x(alert.ts) - 1:.1f}" y="{y}" width="2" height="{LANE}" fill="{INK}"/>')
    # hour labels: every 1, 2, 3 or 6 h so that no more than four crowd the phone's width
    step_h = next((h for h in (1, 2, 3, 6) if span / 3600 / h <= 4), 12)
    first = math.ceil(t0 / 3600 / step_h) * step_h * 3600
    label_y = len(rows) * (LANE + GAP) + 12
    for tick in np.arange(first, t1, step_h * 3600):
        parts.append(f'<text x="{x(float(tick)):.1f}" y="{label_y}" text-anchor="middle" font-size="11" '
                     f'fill="{INK}">{_clock(float(tick), zone)}</text>')
    text = (f"Posture timeline {_clock(t0, zone)}–{_clock(t1, zone)}: "
            f"{len(data.episodes)} episodes, {len(data.alerts)} reminders")
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(text)}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(text)}</title>{"".join(parts)}</svg>')


def legend() -> list[tuple[str, str]]:
    """(colour, name) of the postures the timeline shows."""
    return [(POSTURE_COLORS[p], p) for p in ("sitting", "standing", "walking", "lying")]


def sparkline(values: list[float | None], label: str, width: int = 112, height: int = 28) -> str:
    """One bar per day; an empty day is a short grey stub so gaps are visible."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    top = max(present, default=0.0) or 1.0
    bar = width / max(len(values), 1)
    parts = []
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            parts.append(f'<rect x="{i * bar:.2f}" y="{height - 2}" width="{max(bar - 1, 0.6):.2f}" '
                         f'height="2" fill="#B8C0CC"/>')
            continue
        h = max(v / top * (height - 2), 1.0) if v > 0 else 1.0
        parts.append(f'<rect x="{i * bar:.2f}" y="{height - h:.2f}" width="{max(bar - 1, 0.6):.2f}" '
                     f'height="{h:.2f}" fill="#3B6EA5"/>')
    return (f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
            f'{"".join(parts)}</svg>')
