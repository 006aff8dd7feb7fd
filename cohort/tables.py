"""The cohort tables: one row per participant × day, and one row per participant.

``cohort_days`` has the participant, the day and its figures (``daily.FIGURES``).
``cohort_participants`` has, per participant, the recorded days, the wear days (any monitored
time), the valid days (at least ``valid_min`` monitored minutes) and the mean of every daily
figure over the valid days (empty when there are none). Both are written as CSV and Parquet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from posturewatch.cohort.daily import FIGURES

DAYS = "cohort_days"
PARTICIPANTS = "cohort_participants"


def days_table(days: Mapping[str, Sequence[Mapping[str, object]]]) -> pa.Table:
    """participant × day rows from each participant's daily figures."""
    cols: dict[str, list] = {"participant": [], "day": [], "start": [], **{f: [] for f in FIGURES}}
    for participant in sorted(days):
        for row in days[participant]:
            cols["participant"].append(participant)
            cols["day"].append(str(row["day"]))
            cols["start"].append(float(row.get("start", np.nan)))
            for f in FIGURES:
                value = row.get(f)
                cols[f].append(float(value) if isinstance(value, int | float) else np.nan)
    return pa.table({"participant": pa.array(cols["participant"], pa.string()),
                     "day": pa.array(cols["day"], pa.string()),
                     **{k: pa.array(cols[k], pa.float64()) for k in ("start", *FIGURES)}})


def participants_table(days: pa.Table, participants: Sequence[str], valid_min: float) -> pa.Table:
    """Wear days, valid days and the means of the daily figures over valid days."""
    names = np.asarray(days["participant"].to_pylist(), dtype=object)
    monitored = days["monitored_min"].to_numpy(zero_copy_only=False)
    figures = {f: days[f].to_numpy(zero_copy_only=False) for f in FIGURES}
    out: dict[str, list] = {"participant": [], "days": [], "wear_days": [], "valid_days": [],
                            **{f"mean_{f}": [] for f in FIGURES}}
    for p in sorted(participants):
        mine = names == p
        valid = mine & (monitored >= valid_min)
        out["participant"].append(p)
        out["days"].append(int(mine.sum()))
        out["wear_days"].append(int((mine & (monitored > 0)).sum()))
        out["valid_days"].append(int(valid.sum()))
        for f in FIGURES:  # a figure none of the valid days has (NaN on each) has no mean
            values = np.asarray(figures[f][valid], dtype=float)
            known = values[np.isfinite(values)]
            out[f"mean_{f}"].append(float(known.mean()) if known.size else None)
    return pa.table({
        "participant": pa.array(out["participant"], pa.string()),
        **{k: pa.array(out[k], pa.int64()) for k in ("days", "wear_days", "valid_days")},
        **{f"mean_{f}": pa.array(out[f"mean_{f}"], pa.float64()) for f in FIGURES},
    })


def write_table(table: pa.Table, out_dir: Path, name: str) -> list[Path]:
    """``name.csv`` and ``name.parquet``, each written to a temporary name and renamed."""
    paths = []
    for suffix, write in ((".csv", pacsv.write_csv), (".parquet", pq.write_table)):
        path = out_dir / f"{name}{suffix}"
        tmp = path.with_name(f".{path.name}.tmp")
        write(table, tmp)
        tmp.replace(path)
        paths.append(path)
    return paths
