"""The daily report as one self-contained HTML page a physiotherapist can hand to a patient.

Inline CSS, charts embedded as data URIs, no scripts and no external requests, so the file can be
mailed, printed or opened offline. Plain-language headings, a short explanation under each, a
summary box at the top; every number carries its unit.
"""

from __future__ import annotations

import base64
import html
import math
from datetime import datetime
from zoneinfo import ZoneInfo

from posturewatch.analytics.report_charts import ANGLE_NAMES_PLAIN, KIND_COLORS, KIND_NAMES
from posturewatch.analytics.report_stats import (
    BREAK_MIN_S,
    RESPONSE_WINDOW_S,
    DayData,
    DayStats,
    hm,
)

CSS = """
:root { --ink:#222831; --muted:#6b7280; --line:#e5e7eb; --accent:#2e6a9e; --soft:#f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 15px/1.55 "Segoe UI", "Helvetica Neue", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 36px 32px 48px; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 14px; margin-bottom: 22px; }
h1 { font-size: 27px; margin: 0 0 2px; letter-spacing: -0.01em; }
.sub { color: var(--muted); margin: 0; font-size: 14px; }
h2 { font-size: 19px; margin: 34px 0 4px; }
p.lead { margin: 0 0 12px; color: #3a4150; max-width: 760px; }
.summary { display: grid; grid-template-columns: repeat(4, 1fr); gap: 0; border: 1px solid var(--line);
  border-radius: 10px; overflow: hidden; background: var(--soft); }
.tile { padding: 14px 16px; border-right: 1px solid var(--line); border-bottom: 1px solid var(--line); }
.tile:nth-child(4n) { border-right: none; }
.tile .k { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.tile .v { font-size: 24px; font-weight: 650; margin-top: 2px; }
.tile .n { font-size: 13px; color: var(--muted); }
.kinds { display: flex; flex-wrap: wrap; gap: 8px 22px; padding: 12px 16px; background: #fff;
  grid-column: 1 / -1; font-size: 14px; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; }
figure { margin: 8px 0 0; }
figure img { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin-top: 6px; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12.5px; text-transform: uppercase;
  letter-spacing: .04em; border-bottom: 1px solid var(--ink); padding: 6px 10px 6px 0; }
td { border-bottom: 1px solid var(--line); padding: 6px 10px 6px 0; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
details { margin-top: 10px; }
details summary { cursor: pointer; color: var(--accent); font-size: 14px; }
.note { font-size: 13px; color: var(--muted); }
.chain { display: flex; align-items: baseline; gap: 18px; padding: 14px 18px;
  border-left: 4px solid var(--accent); background: var(--soft); border-radius: 0 8px 8px 0; margin: 10px 0; }
.chain .big { font-size: 30px; font-weight: 700; white-space: nowrap; }
table.compact { width: auto; min-width: 55%; }
table.compact td, table.compact th { padding-right: 36px; }
footer { margin-top: 40px; padding-top: 12px; border-top: 1px solid var(--line); font-size: 12.5px;
  color: var(--muted); }
@media print { main { padding: 0; } h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _clock(ts: float | None, zone: ZoneInfo) -> str:
    return "–" if ts is None or not math.isfinite(ts) else datetime.fromtimestamp(ts, zone).strftime("%H:%M")


def _deg(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    whole = round(value) + 0  # + 0 turns -0 into 0
    return f"{'−' if whole < 0 else '+' if whole > 0 else ''}{abs(whole)}°"


def data_uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _tile(key: str, value: str, note: str = "") -> str:
    return (f'<div class="tile"><div class="k">{_e(key)}</div><div class="v">{_e(value)}</div>'
            f'<div class="n">{_e(note)}</div></div>')


def _sent_note(data: DayData, s: DayStats) -> str:
    kinds = ", ".join(f"{n} {KIND_NAMES.get(k, k).lower()}" for k, n in sorted(s.alerts_by_kind.items()))
    capped = int(data.summary.get("suppressed_daily_cap", 0))
    note = kinds or "none today"
    if s.budget is not None:
        return note
    return f"{note}; {capped} more held back by the daily limit" if capped else note


def _budget_tiles(data: DayData, s: DayStats) -> list[str]:
    """The reminder budget's use: used of the day's budget, when it ran out, what was held back."""
    b = s.budget
    if b is None or not b.budget:
        return []
    zone = ZoneInfo(data.tz)
    value = f"all used by {_clock(b.spent_at, zone)}" if b.spent_at is not None else f"{b.left} left"
    held = []
    if b.held_paced:
        held.append(f"{b.held_paced} held back to spread them over the day")
    if b.held_spent:
        held.append(f"{b.held_spent} more held back after that")
    if b.held_paced is None:
        held.append("the day is still running")
    note = f"{b.used} of {b.budget} sent" + ("; " + "; ".join(held) if held else "")
    return [_tile("Reminder budget", value, note)]


def _summary(data: DayData, s: DayStats) -> str:
    longest = s.longest_bout
    zone = ZoneInfo(data.tz)
    share = s.sitting_s / s.monitored_s * 100 if s.monitored_s else 0.0
    breaks_note = (f"median {hm(sorted(b.duration_s for b in s.breaks)[len(s.breaks) // 2])}"
                   if s.breaks else "no break between sitting bouts")
    if s.response_rate is None:
        responses = ("n/a", "not known from a replay" if not data.responses_known else "no reminders")
    else:
        responses = (f"{s.response_rate * 100:.0f} %",
                     f"{s.responded} of {s.alerts_total} acted on within {RESPONSE_WINDOW_S / 60:.0f} min")
    chain_value = f"{s.chained} of {len(s.chain)}" if s.chain else "–"
    tiles = [
        _tile("Time monitored", hm(s.monitored_s), f"{_clock(s.first, zone)}–{_clock(s.last, zone)}"),
        _tile("Time sitting", hm(s.sitting_s), f"{share:.0f} % of the monitored time"),
        _tile("Longest sitting bout", hm(longest.duration_s) if longest else "–",
              f"from {_clock(longest.start, zone)}" if longest else "no sitting"),
        _tile("Bouts over 30 min", str(s.long_bouts), f"of {len(s.bouts)} sitting bouts"),
        _tile("Breaks from sitting", str(len(s.breaks)), breaks_note),
        _tile("Reminders sent", str(s.alerts_total) if s.budget is None or not s.budget.budget
              else f"{s.alerts_total} of {s.budget.budget}", _sent_note(data, s)),
        *_budget_tiles(data, s),
        _tile("Reminders acted on", *responses),
        _tile("Slump before head-forward", chain_value,
              f"forward-head episodes with a pelvic tilt ≤ {s.chain_minutes:.0f} min before"),
    ]
    tiles += _activity_tiles(data.summary)
    kinds = "".join(
        f'<span><span class="dot" style="background:{KIND_COLORS[k]}"></span>{_e(KIND_NAMES[k])}: '
        f"<b>{n}</b> episode{'s' if n != 1 else ''}"
        + (f" ({hm(s.episode_minutes[k] * 60)})" if n else "") + "</span>"
        for k, n in s.episodes_by_kind.items()
    )
    return f'<section class="summary">{"".join(tiles)}<div class="kinds">{kinds}</div></section>'


def _activity_tiles(summary: dict[str, float]) -> list[str]:
    """The day's activity figures from the stored daily summary (none for an older summary)."""
    if "steps" not in summary:
        return []
    get = summary.get
    valid = "a valid day" if get("valid_day") else "too little worn while awake for a valid day"
    return [
        _tile("Steps", f"{get('steps', 0):.0f}",
              f"{get('cadence_spm', 0):.0f} steps/min over {hm(get('walking_min', 0) * 60)} walking"),
        _tile("Sit-to-stand", f"{get('sit_to_stand', 0):.0f}",
              f"{get('breaks_per_sitting_hour', 0):.1f} per sitting hour, "
              f"{get('sit_to_stand_mean_s', 0):.1f} s each"),
        _tile("Posterior tilt", f"{get('posterior_tilt_share', 0) * 100:.0f} %",
              f"of sitting; forward head {hm(get('forward_head_min', 0) * 60)}"),
        _tile("Worn", hm(get("wear_min", 0) * 60),
              f"{valid}; standing {hm(get('standing_min', 0) * 60)}"),
    ]


def _angles_table(s: DayStats) -> str:
    rows = []
    for posture, per_angle in s.angle_summary.items():
        for angle, summary in per_angle.items():
            if summary.n == 0:
                continue
            rows.append(
                f"<tr><td>{_e(posture)}</td><td>{_e(ANGLE_NAMES_PLAIN[angle])}</td>"
                f'<td class="num">{_deg(summary.median)}</td>'
                f'<td class="num">{_deg(summary.p10)} to {_deg(summary.p90)}</td>'
                f'<td class="num">{hm(summary.n)}</td></tr>'
            )
    if not rows:
        return '<p class="note">No sitting or standing data on this day.</p>'
    return ("<table><thead><tr><th>Posture</th><th>Angle</th><th class=num>Typical (median)</th>"
            "<th class=num>Most of the time (10–90 %)</th><th class=num>Time</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _episode_kinds_table(data: DayData, s: DayStats) -> str:
    rows = []
    for kind, n in s.episodes_by_kind.items():
        eps = [e for e in data.episodes if e.kind == kind]
        if not eps:
            continue
        longest = max((e.duration_s for e in eps if e.end is not None), default=math.nan)
        peaks = [e.peak for e in eps if math.isfinite(e.peak)]
        if kind == "prolonged_sitting":
            extreme = f"{max(peaks):.0f} min in the chair" if peaks else "–"
        else:
            worst = min(peaks) if kind == "posterior_tilt" else max(peaks) if peaks else math.nan
            extreme = _deg(worst) if peaks else "–"
        rows.append(
            f'<tr><td><span class="dot" style="background:{KIND_COLORS.get(kind, "#999")}"></span>'
            f"{_e(KIND_NAMES.get(kind, kind))}</td><td class=num>{n}</td>"
            f"<td class=num>{hm(s.episode_minutes[kind] * 60)}</td><td class=num>{hm(longest)}</td>"
            f"<td class=num>{_e(extreme)}</td></tr>"
        )
    if not rows:
        return '<p class="note">No episodes on this day.</p>'
    return ("<table><thead><tr><th>Episode</th><th class=num>How many</th><th class=num>Total time</th>"
            "<th class=num>Longest</th><th class=num>Most extreme</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _episodes_list(data: DayData) -> str:
    zone = ZoneInfo(data.tz)
    if not data.episodes:
        return ""
    rows = []
    for e in sorted(data.episodes, key=lambda e: e.start):
        if e.kind == "prolonged_sitting":
            peak = f"{e.peak:.0f} min sitting" if math.isfinite(e.peak) else "–"
        else:
            peak = _deg(e.peak)
        rows.append(
            f'<tr><td><span class="dot" style="background:{KIND_COLORS.get(e.kind, "#999")}"></span>'
            f"{_e(KIND_NAMES.get(e.kind, e.kind))}</td><td class=num>{_clock(e.start, zone)}</td>"
            f"<td class=num>{hm(e.duration_s) if e.end is not None else 'still going'}</td>"
            f"<td class=num>{_e(peak)}</td></tr>"
        )
    return (f"<details><summary>Every episode, one by one ({len(rows)})</summary>"
            "<table><thead><tr><th>Episode</th><th class=num>Began</th><th class=num>Lasted</th>"
            f"<th class=num>Most extreme</th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>")


def _alerts_table(data: DayData) -> str:
    zone = ZoneInfo(data.tz)
    if not data.alerts:
        return '<p class="note">No reminders were sent on this day.</p>'
    rows = []
    for a in data.alerts:
        if not data.responses_known:
            response = "n/a"
        elif a.response_s is None:
            response = "not yet"
        elif a.response_s <= 1:
            response = "already changed"
        else:
            response = f"after {hm(a.response_s)}" if a.response_s >= 60 else f"after {a.response_s:.0f} s"
        rows.append(f"<tr><td>{_clock(a.ts, zone)}</td><td>{_e(a.title)}</td>"
                    f"<td>{_e(response)}</td></tr>")
    return ("<table class=compact><thead><tr><th>Time</th><th>Reminder</th><th>You changed position</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _chain(data: DayData, s: DayStats) -> str:
    zone = ZoneInfo(data.tz)
    if not s.chain:
        return '<p class="note">No forward-head episodes on this day, so there is no chain to show.</p>'
    share = s.chained / len(s.chain) * 100
    def before(link) -> str:
        return f"{_clock(link.tilt.start, zone)} ({hm(link.lead_s)} before)" if link.tilt else "none"

    items = "".join(
        f"<tr><td>{_clock(link.forward_head.start, zone)}</td><td>{_e(before(link))}</td></tr>"
        for link in s.chain
    )
    return (
        f'<div class="chain"><span class="big">{s.chained} of {len(s.chain)}</span>'
        f"<span>forward-head episodes ({share:.0f} %) came while the pelvis was tilted back, or within "
        f"{s.chain_minutes:.0f} min after it had been.</span></div>"
        f"<details><summary>Each head-forward episode and the tilt before it ({len(s.chain)})</summary>"
        "<table class=compact><thead><tr><th>Head forward at</th><th>Pelvis tilted back from</th></tr>"
        f"</thead><tbody>{items}</tbody></table></details>"
    )


def source_words(source: str) -> str:
    """Where the data came from, in words: the kind of source only, never a file or folder
    of the machine the report was made on (the page is handed to other people)."""
    if source.startswith("embedded store"):
        return "the wearer's embedded store"
    if source.startswith("replay"):
        return "a replayed recording"
    return "recorded data"


def _mountings(data: DayData) -> str:
    if not data.mountings:
        return '<p class="note">No sensor slipped or was put back on this day.</p>'
    zone = ZoneInfo(data.tz)
    rows = "".join(f"<tr><td>{datetime.fromtimestamp(ts, zone).strftime('%H:%M:%S')}</td>"
                   f"<td>{_e(note)}</td></tr>" for ts, note in sorted(data.mountings))
    return f"<table><thead><tr><th>Time</th><th>What happened</th></tr></thead><tbody>{rows}</tbody></table>"


def render_html(data: DayData, stats: DayStats, images: dict[str, str]) -> str:
    """The page; ``images`` maps ``timeline``, ``bouts``, ``distributions`` to data URIs."""
    date_text = datetime.fromisoformat(data.day).strftime("%A %-d %B %Y")
    def figure(name: str, alt: str) -> str:
        return f'<figure><img src="{images[name]}" alt="{_e(alt)}"></figure>'

    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Posture report – {_e(data.user)} – {_e(data.day)}</title>
<style>{CSS}</style>
</head>
<body><main>
<header>
<h1>Your posture day</h1>
<p class="sub">{_e(date_text)} · {_e(data.user)} · times in {_e(data.tz)} · angles in degrees
(0° = standing tall)</p>
</header>
{_summary(data, stats)}

<h2>Your day at a glance</h2>
<p class="lead">The coloured band shows what you were doing. The lanes below it mark the moments your
posture needed attention; the triangles on top are the reminders your phone showed.</p>
{figure("timeline", "Timeline of posture, episodes and reminders")}

<h2>Sitting and breaks</h2>
<p class="lead">Each bar is one spell in the chair: its width is when it happened, its height how long
it lasted. Getting up for at least {BREAK_MIN_S / 60:.0f} minute ends a spell. Try to keep each one
under the dashed 30-minute line.</p>
{figure("bouts", "Sitting bouts and their length in minutes")}

<h2>How you held yourself</h2>
<p class="lead"><b>Pelvic tilt</b> below 0° means the pelvis rolls backwards (slumping); beyond the
dashed line at −15° it counts as tilted back. <b>Upper-back lean</b> above the dashed line at 20°
means the upper back and head are forward. <b>Lower-back rounding</b> is how much the lower back
bends compared with the pelvis.</p>
{figure("distributions", "Distributions of pelvic tilt, upper-back lean and lower-back rounding")}
{_angles_table(stats)}

<h2>Episodes</h2>
<p class="lead">An episode is a stretch of at least a minute in one of the habits we watch (30 minutes
for long sitting). "Most extreme" is the furthest the angle went during it.</p>
{_episode_kinds_table(data, stats)}
{_episodes_list(data)}

<h2>Reminders and how you responded</h2>
<p class="lead">A reminder counts as acted on when the episode ended within
{RESPONSE_WINDOW_S / 60:.0f} minutes of it.</p>
{_alerts_table(data)}

<h2>From the pelvis to the neck</h2>
<p class="lead">Slumping often starts at the bottom: tight hamstrings pull the pelvis backwards, the lower
back flattens, the upper back rounds and the head drifts forward. This counts how often a
head-forward episode followed a pelvis-tilted-back one.</p>
{_chain(data, stats)}

<h2>Your sensors</h2>
<p class="lead">When a sensor slips or goes back on differently, its angles are corrected from
that moment on; here is when that happened.</p>
{_mountings(data)}

<footer>Made by posturewatch from {_e(source_words(data.source))}. This report describes habits;
it is not a diagnosis. Talk to your physiotherapist about what the numbers mean for you.</footer>
</main></body>
</html>
"""
