"""The cohort report: distributions across participants as one PNG and a self-contained HTML page.

Each panel is one per-participant figure (valid days, monitored and sitting minutes a day,
episodes and alerts a day) as a box with every participant as a dot; the last panel is each
participant's mean day split by posture. The HTML page embeds the PNG and lists the
participant table and the failed recordings.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyarrow as pa
from matplotlib.figure import Figure

from posturewatch.analytics.report_charts import to_bytes
from posturewatch.analytics.report_html import data_uri
from posturewatch.cohort.daily import LABELS

PANELS = [("valid_days", "valid days"), ("mean_monitored_min", "monitored min / day"),
          ("mean_sitting_min", "sitting min / day"), ("mean_episodes", "episodes / day"),
          ("mean_alerts", "alerts / day")]
_COLOURS = {"unknown": "#bbbbbb", "lying": "#6a8caf", "sitting": "#e0a040", "standing": "#6aaf6a",
            "walking": "#2f7f4f", "running": "#a04060", "stairs": "#7050a0", "cycling": "#40a0a0",
            "not_worn": "#dddddd"}


def _column(table: pa.Table, name: str) -> np.ndarray:
    values = np.asarray(table[name].to_pylist(), dtype=float)
    return values[np.isfinite(values)]


def cohort_figure(participants: pa.Table, valid_min: float) -> Figure:
    fig = Figure(figsize=(13, 7.5))
    axes = fig.subplots(2, 3)
    rng = np.random.default_rng(0)
    for ax, (name, title) in zip(axes.flat, PANELS, strict=False):
        values = _column(participants, name)
        ax.set_title(title, fontsize=11)
        if not len(values):
            ax.text(0.5, 0.5, "no valid days", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            continue
        ax.boxplot(values, widths=0.5, showfliers=False)
        ax.scatter(1 + rng.uniform(-0.12, 0.12, len(values)), values, s=14, alpha=0.7, zorder=3)
        ax.set_xticks([1], [f"{len(values)} participants"])
        ax.grid(axis="y", alpha=0.3)
    ax = axes.flat[-1]
    names = participants["participant"].to_pylist()
    bottom = np.zeros(len(names))
    for label in LABELS:
        col = f"mean_{label}_s"
        if col not in participants.column_names:
            continue
        hours = np.nan_to_num(np.asarray(participants[col].to_pylist(), dtype=float)) / 3600.0
        if hours.any():
            ax.bar(range(len(names)), hours, bottom=bottom, color=_COLOURS.get(label), label=label)
            bottom += hours
    ax.set_title("mean valid day by posture (h)", fontsize=11)
    ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
    if bottom.any():
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Cohort of {len(names)} participants (valid day: ≥ {valid_min:g} monitored min)")
    fig.tight_layout()
    return fig


def _table_html(table: pa.Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.column_names)
    rows = []
    for row in table.to_pylist():
        cells = []
        for v in row.values():
            text = "–" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def write_report(participants: pa.Table, failed: list[dict[str, str]], out_dir: Path,
                 valid_min: float) -> tuple[Path, Path]:
    """``cohort_report.png`` and ``cohort_report.html`` (the PNG inlined) in ``out_dir``."""
    png = to_bytes(cohort_figure(participants, valid_min), "png")
    png_path, html_path = out_dir / "cohort_report.png", out_dir / "cohort_report.html"
    png_path.write_bytes(png)
    failed_html = ("<p>none</p>" if not failed else "<ul>" + "".join(
        f"<li><b>{html.escape(f['participant'])}</b>: {html.escape(f['error'])}</li>" for f in failed)
        + "</ul>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>posturewatch cohort</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; font-size: 12px; }} td, th {{ padding: 3px 8px; text-align: right;
border-bottom: 1px solid #ddd; }} th {{ background: #f4f4f4; }} img {{ max-width: 100%; }}</style>
</head><body>
<h1>Cohort: {participants.num_rows} participants</h1>
<p>A valid day has at least {valid_min:g} monitored minutes (worn, posture known). Means are over
valid days.</p>
<img alt="distributions across participants" src="{data_uri('image/png', png)}">
<h2>Participants</h2>
{_table_html(participants)}
<h2>Failed recordings</h2>
{failed_html}
</body></html>
"""
    html_path.write_text(page, encoding="utf-8")
    return png_path, html_path
