"""`posturewatch replay FILE --out DIR`: run the pipeline over a recorded file and write results."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from posturewatch.analytics.records import Posture
from posturewatch.app.progress import Progress
from posturewatch.ingest.recording import RecordingError
from posturewatch.runtime import config as configuration
from posturewatch.runtime.calibration_file import load_calibrations
from posturewatch.runtime.outputs import OutputsError
from posturewatch.runtime.replay import ReplayResult, replay_file

HELP = "run the pipeline over a recorded file and write angles.csv, episodes.csv, alerts.csv"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path,
                   help="recorded CSV: a timestamp column and <location>_ax/_ay/_az[/_gx…] columns "
                        "(see README, 'Recording format')")
    p.add_argument("--out", type=Path, required=True, help="directory for the result files")
    p.add_argument("--config", type=Path, help="TOML config (mountings, thresholds, alert policy)")
    p.add_argument("--acc-unit", choices=("auto", "m/s2", "g"), default="auto",
                   help="accelerometer unit (default: detected from the magnitude at rest)")
    p.add_argument("--gyro-unit", choices=("rad/s", "deg/s"), default="rad/s",
                   help="gyroscope unit (default rad/s)")
    p.add_argument("--calibration", type=Path, help="calibration file written by `posturewatch calibrate`")
    p.add_argument("--no-align", action="store_true", help="trust the file's timestamps as they are")


def _summary(result: ReplayResult) -> str:
    lines = []
    if len(result.posture):
        counts = Counter(result.posture.tolist())
        total = len(result.posture)
        share = ", ".join(f"{Posture(k).label} {v / total * 100:.0f}%" for k, v in sorted(counts.items()))
        lines.append(f"{total / 36000:.2f} h analysed: {share}")
    kinds = Counter(e.episode.kind for e in result.episodes if e.type == "end")
    lines.append("episodes: " + (", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"))
    lines.append(f"alerts: {len(result.alerts)}")
    lines.append("input: " + result.read.summary())
    for note in result.notes:
        lines.append("note: " + note)
    extra = {k: v for k, v in result.counters.items() if v}
    if extra:
        lines.append("counters: " + ", ".join(f"{k}={v}" for k, v in sorted(extra.items())))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = configuration.load(args.config)
    except configuration.ConfigError as exc:
        print(f"posturewatch replay: {exc}", file=sys.stderr)
        return 2
    cals = None
    if args.calibration:
        cals, notes = load_calibrations(args.calibration, cfg.pipeline.declared)
        if not cals:
            print("posturewatch replay: " + "; ".join(notes), file=sys.stderr)
            return 2
    progress = Progress("replay")
    try:
        result = replay_file(args.file, args.out, cfg, args.acc_unit, args.gyro_unit, progress,
                             align=not args.no_align, calibrations=cals)
    except (RecordingError, OutputsError) as exc:
        progress.done()
        print(f"posturewatch replay: {exc}", file=sys.stderr)
        return 2
    progress.done()
    print(_summary(result))
    print(f"wrote {args.out}/angles.csv, episodes.csv, alerts.csv")
    return 0 if np.size(result.t) else 1
