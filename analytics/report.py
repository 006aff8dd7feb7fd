"""Write one day's report: a one-page PNG and a self-contained HTML page, side by side.

``write_report(data, out_dir)`` is what `posturewatch report` and the end of `posturewatch demo`
call; the data comes from ``app.report_data`` (embedded store or replay folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from posturewatch.analytics import report_charts as charts
from posturewatch.analytics.report_html import data_uri, render_html
from posturewatch.analytics.report_stats import DayData, DayStats, day_stats


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    png: Path
    stats: DayStats


def report_basename(data: DayData) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in data.user)
    return f"posture-report-{safe}-{data.day}"


def write_report(data: DayData, out_dir: str | Path, chain_minutes: float = 15.0) -> ReportFiles:
    """Render and write ``<out_dir>/posture-report-<user>-<day>.{png,html}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = day_stats(data, chain_minutes)
    images = {
        "timeline": data_uri("image/svg+xml", charts.to_bytes(charts.timeline_figure(data, stats), "svg")),
        "bouts": data_uri("image/svg+xml", charts.to_bytes(charts.bouts_figure(data, stats), "svg")),
        "distributions": data_uri("image/svg+xml",
                                  charts.to_bytes(charts.distributions_figure(stats), "svg")),
    }
    date_text = datetime.fromisoformat(data.day).strftime("%A %-d %B %Y")
    headline = f"Posture day of {data.user}, {date_text}"
    png = charts.to_bytes(charts.page_figure(data, stats, headline), "png", dpi=100)
    base = out / report_basename(data)
    html_path, png_path = base.with_suffix(".html"), base.with_suffix(".png")
    html_path.write_text(render_html(data, stats, images), encoding="utf-8")
    png_path.write_bytes(png)
    return ReportFiles(html_path, png_path, stats)
