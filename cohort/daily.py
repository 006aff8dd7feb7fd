"""A participant's per-day figures, read from a replay result folder.

When the replay wrote a ``daily.csv`` (one row per local day) that file is the answer. Otherwise
the same columns are computed from ``angles.csv`` (1 Hz rows: one second each) and
``episodes.csv`` / ``alerts.csv``: seconds per posture, monitored and sitting minutes (monitored =
neither unknown nor off the body), episodes (by the local day they started) and alerts.
"""

from __future__ import annotations

import csv
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from posturewatch.analytics.days import day_start
from posturewatch.analytics.records import Posture

LABELS = [p.label for p in Posture]
FIGURES = ["monitored_min", "sitting_min", "episodes", "alerts", *[f"{label}_s" for label in LABELS]]
_UNMONITORED = {Posture.UNKNOWN.label, Posture.NOT_WORN.label}


def _local_days(ts: pa.Array, tz: str) -> pa.Array:
    secs = pc.cast(pc.floor(pc.cast(ts, pa.float64())), pa.int64())
    return pc.strftime(pc.cast(secs, pa.timestamp("s", tz=tz)), format="%Y-%m-%d")


def _count_by_day(path: Path, column: str, tz: str) -> dict[str, int]:
    if not path.is_file():
        return {}
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        include_columns=[column], column_types={column: pa.float64()}))
    if not table.num_rows:
        return {}
    days = _local_days(table[column], tz)
    counts = pc.value_counts(days)
    return {d.as_py(): c.as_py() for d, c in zip(counts.field("values"), counts.field("counts"), strict=True)}


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def read_daily_csv(path: Path) -> list[dict[str, object]]:
    with path.open(newline="") as fh:
        return [{k: v if k in ("day", "local_start") else _number(v) for k, v in row.items()}
                for row in csv.DictReader(fh)]


def figures_from_angles(folder: Path, tz: str) -> list[dict[str, object]]:
    """The daily.csv columns computed from angles.csv, episodes.csv and alerts.csv."""
    table = pacsv.read_csv(folder / "angles.csv", convert_options=pacsv.ConvertOptions(
        include_columns=["timestamp", "posture"],
        column_types={"timestamp": pa.float64(), "posture": pa.string()}))
    if not table.num_rows:
        return []
    table = table.append_column("day", _local_days(table["timestamp"], tz))
    grouped = table.group_by(["day", "posture"]).aggregate([("timestamp", "count")]).to_pydict()
    seconds: dict[str, dict[str, float]] = {}
    for day, label, n in zip(grouped["day"], grouped["posture"], grouped["timestamp_count"], strict=True):
        seconds.setdefault(day, dict.fromkeys(LABELS, 0.0))[label] = float(n)
    episodes = _count_by_day(folder / "episodes.csv", "start", tz)
    alerts = _count_by_day(folder / "alerts.csv", "ts", tz)
    zone = ZoneInfo(tz)
    rows = []
    for day in sorted(seconds):
        per = seconds[day]
        start = day_start(day, zone)
        monitored = sum(v for k, v in per.items() if k not in _UNMONITORED)
        rows.append({
            "day": day, "start": float(start),
            "local_start": pc.strftime(pa.scalar(int(start), pa.timestamp("s", tz=tz)),
                                       format="%Y-%m-%dT%H:%M:%S%z").as_py(),
            "monitored_min": monitored / 60.0, "sitting_min": per[Posture.SITTING.label] / 60.0,
            "episodes": float(episodes.get(day, 0)), "alerts": float(alerts.get(day, 0)),
            **{f"{label}_s": per[label] for label in LABELS},
        })
    return rows


def daily_figures(folder: str | Path, tz: str = "UTC") -> list[dict[str, object]]:
    """One dict per local day: daily.csv when the replay wrote one, else computed from angles.csv."""
    folder = Path(folder)
    if (folder / "daily.csv").is_file():
        return read_daily_csv(folder / "daily.csv")
    return figures_from_angles(folder, tz)
