"""Write a multi-day trends report: a one-page PNG, a self-contained HTML page and a printable PDF.

``write_trends_report(trend, out_dir)`` is what `posturewatch report --days N` (or ``--from/--to``)
calls; the data comes from ``app.trends_data``. The page, like the daily one, has no scripts and
no external requests, and names no file or folder of the machine it was made on.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from posturewatch.analytics import report_charts as charts
from posturewatch.analytics import report_trends_charts as trend_charts
from posturewatch.analytics.report_html import CSS, data_uri
from posturewatch.analytics.trends import (
    MIN_WEAR_MIN,
    TrendData,
    format_value,
    goal_sentences,
    habit_sentences,
)

EXTRA_CSS = """
ul.habits { margin: 8px 0 0; padding-left: 20px; max-width: 800px; }
ul.habits li { margin: 6px 0; }
.goals { padding: 12px 18px; border-left: 4px solid #1F7A4D; background: var(--soft);
  border-radius: 0 8px 8px 0; margin: 10px 0; }
.goals p { margin: 4px 0; }
td.off { color: var(--muted); }
.scroll { overflow-x: auto; }
table.days { font-size: 13px; }
table.days td { white-space: nowrap; padding-right: 8px; }
table.days th { padding-right: 8px; font-size: 11px; vertical-align: bottom; }
"""


@dataclass(frozen=True)
class TrendFiles:
    html: Path
    png: Path
    pdf: Path
    pages: int
    habits: list[str]


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _date(day: str, year: bool = True) -> str:
    return date.fromisoformat(day).strftime("%-d %B %Y" if year else "%-d %B")


def period_text(trend: TrendData) -> str:
    first, last = trend.days[0], trend.days[-1]
    same_year = first[:4] == last[:4]
    return f"{_date(first, not same_year)} – {_date(last)}"


def title_of(trend: TrendData) -> str:
    n = len(trend.days)
    kind = "week" if n == 7 else "month" if 28 <= n <= 31 else f"{n} days"
    return f"Your posture {kind}" if kind in ("week", "month") else f"Your posture over {kind}"


def averages_table(trend: TrendData) -> list[tuple[str, str, str]]:
    rows = []
    have_before = bool(trend.worn_days(trend.before))
    for fig in trend.present():
        before = trend.average(fig.name, trend.before) if have_before else math.nan
        rows.append((fig.label, format_value(fig, trend.average(fig.name)), format_value(fig, before)))
    return rows


def _daily_table(trend: TrendData) -> str:
    figures = trend.present()
    head = "".join(f"<th class=num>{_e(f.label)}</th>" for f in figures)
    body = []
    for day in trend.days:
        values = trend.figures[day]
        worn = values.get("wear_min", 0.0) >= MIN_WEAR_MIN
        cells = "".join(f"<td class=\"num{'' if worn else ' off'}\">"
                        f"{_e(_compact(f, values.get(f.name, math.nan)))}</td>" for f in figures)
        goal = trend.goals.of(day) if trend.goals else None
        mark = "" if goal is None or goal.met is None else " ✓" if goal.met else ""
        body.append(f"<tr><td>{_e(date.fromisoformat(day).strftime('%a %-d %b'))}{mark}</td>{cells}</tr>")
    note = ('<p class="note">✓ marks a day on which you met your goal. Grey days had less than '
            f"{MIN_WEAR_MIN / 60:.0f} hour of wear and do not count in the averages.</p>")
    return (f"<div class=scroll><table class=days><thead><tr><th>Day</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>" + note)


def _compact(fig, value: float) -> str:
    """A table cell: the unit is in the column head for rates."""
    text = format_value(fig, value)
    return text.removesuffix(" an hour")


def _averages_html(trend: TrendData) -> str:
    rows = "".join(f"<tr><td>{_e(a)}</td><td class=num>{_e(b)}</td><td class=num>{_e(c)}</td></tr>"
                   for a, b, c in averages_table(trend))
    return ("<table class=compact><thead><tr><th>Per day, on average</th><th class=num>This period</th>"
            f"<th class=num>The period before</th></tr></thead><tbody>{rows}</tbody></table>")


def render_trends_html(trend: TrendData, habits: list[str], goals: list[str], multiples_uri: str) -> str:
    stored = trend.source_kind == "embedded store"
    source = "the wearer's embedded store" if stored else "a replayed recording"
    goals_html = ("<h2>Your goals</h2><div class=\"goals\">" + "".join(f"<p>{_e(g)}</p>" for g in goals)
                  + "</div>") if goals else ""
    habit_items = "".join(f"<li>{_e(h)}</li>" for h in habits)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Posture trends – {_e(trend.user)} – {_e(trend.days[0])} to {_e(trend.days[-1])}</title>
<style>{CSS}{EXTRA_CSS}</style>
</head>
<body><main>
<header>
<h1>{_e(title_of(trend))}</h1>
<p class="sub">{_e(period_text(trend))} · {_e(trend.user)} · days in {_e(trend.tz)}</p>
</header>

<h2>Your habits in a few words</h2>
<ul class="habits">{habit_items}</ul>
{goals_html}

<h2>Day by day</h2>
<p class="lead">One small chart per habit, the same days along each. The dashed line is your average
over the period, the faint wide line the average of the period before it.</p>
<figure><img src="{multiples_uri}" alt="Daily figures of the period, one chart per habit"></figure>

<h2>The averages</h2>
{_averages_html(trend)}

<h2>Every day in numbers</h2>
{_daily_table(trend)}

<footer>Made by posturewatch from {_e(source)}. This report describes habits; it is not a diagnosis.
Talk to your physiotherapist about what the numbers mean for you.</footer>
</main></body>
</html>
"""


def trends_basename(trend: TrendData) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in trend.user)
    return f"posture-trends-{safe}-{trend.days[0]}-to-{trend.days[-1]}"


def write_trends_report(trend: TrendData, out_dir: str | Path) -> TrendFiles:
    """Render and write ``<out_dir>/posture-trends-<user>-<first>-to-<last>.{png,html,pdf}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    habits, goals = habit_sentences(trend), goal_sentences(trend.goals)
    headline = f"{title_of(trend)}: {trend.user}, {period_text(trend)}"
    multiples = charts.to_bytes(trend_charts.multiples_figure(trend), "svg")
    base = out / trends_basename(trend)
    paths = {s: base.with_name(base.name + s) for s in (".html", ".png", ".pdf")}
    paths[".html"].write_text(render_trends_html(trend, habits, goals, data_uri("image/svg+xml", multiples)),
                              encoding="utf-8")
    paths[".png"].write_bytes(charts.to_bytes(trend_charts.page_figure(trend, headline, habits, goals),
                                              "png", dpi=100))
    subtitle = f"{trend.user} · days in {trend.tz} · made by posturewatch"
    pages = trend_charts.write_pdf(paths[".pdf"], trend, headline, subtitle, habits, goals,
                                   averages_table(trend))
    return TrendFiles(paths[".html"], paths[".png"], paths[".pdf"], pages, habits)
