"""A small simulated study for the cohort tests: combined CSVs, one per-location recording and a
broken file, with a manifest naming them."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.recording import write_recording
from posturewatch.simulators.wearer import simulate

MINUTES = 12
RATE = 25.0


def write_location_csv(path: Path, block) -> None:
    """One sensor's samples as a generic per-location CSV (Unix seconds, m/s², rad/s)."""
    cols = {"time": pa.array(np.char.mod("%.3f", np.round(block.t, 3)))}
    for i, a in enumerate("xyz"):
        cols[f"acc_{a}"] = pa.array(block.acc[:, i])
    if block.gyr is not None:
        for i, a in enumerate("xyz"):
            cols[f"gyro_{a}"] = pa.array(block.gyr[:, i])
    pacsv.write_csv(pa.table(cols), path)


def make_study(root: Path, n_combined: int = 3) -> dict[str, object]:
    """``n_combined`` combined recordings, one per-location recording, one broken file and a
    manifest.csv naming all of them; returns {participant: files} for plain replays."""
    root.mkdir(parents=True, exist_ok=True)
    recordings: dict[str, object] = {}
    for i in range(n_combined):
        day = simulate(WearerConfig(hours=MINUTES / 60, seed=20 + i, rate=RATE))
        folder = write_recording(day, root / f"sim{i}")
        recordings[f"P{i:02d}"] = folder / "sensors.csv"
    day = simulate(WearerConfig(hours=MINUTES / 60, seed=40, rate=RATE))
    per = root / "per_location"
    per.mkdir()
    files = {}
    for loc, block in day.blocks.items():
        files[loc] = per / f"{loc}.csv"
        write_location_csv(files[loc], block)
    recordings["L01"] = files
    broken = root / "broken.csv"
    broken.write_text("timestamp,thigh_acc_x\n1700000000.0,not a number\n garbage\n")
    with (root / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["participant", "file", "files", "tz"])
        for p, f in recordings.items():
            if isinstance(f, dict):
                w.writerow([p, "", " ".join(f"{loc}={path.relative_to(root)}" for loc, path in f.items()),
                            ""])
            else:
                w.writerow([p, f.relative_to(root), "", ""])
        w.writerow(["BROKEN", "broken.csv", "", ""])
    return recordings


def replay_args(files: object) -> list[str]:
    """The `posturewatch replay` arguments for the same files."""
    if isinstance(files, dict):
        return [f"{loc}={path}" for loc, path in files.items()]
    return [str(files)]
