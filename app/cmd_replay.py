"""`posturewatch replay FILE --out DIR` (or one LOCATION=FILE per worn sensor): run the pipeline
over recorded files and write results."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from posturewatch.analytics.records import Posture
from posturewatch.app.progress import Progress
from posturewatch.ingest.archive_reader import is_archive, read_archive
from posturewatch.ingest.locationfiles import parse_location_args, read_location_files
from posturewatch.ingest.recording import Recording, RecordingError, read_recording
from posturewatch.ingest.timestamps import TIME_UNITS
from posturewatch.runtime import config as configuration
from posturewatch.runtime.calibration_file import load_calibrations
from posturewatch.runtime.outputs import OutputsError, ensure_out_dir
from posturewatch.runtime.replay import ReplayResult, run_replay, write_results

HELP = "run the pipeline over a recorded file and write angles.csv, episodes.csv, alerts.csv"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="a recorded CSV with every sensor's columns, a Parquet archive file or the "
                        "daemon's archive folder (one .parquet per day), or one LOCATION=FILE per worn "
                        "sensor (e.g. thigh=thigh.cwa pelvis=pelvis.bin): Axivity .cwa, ActiGraph "
                        ".gt3x, GENEActiv .bin, or a CSV with a time column and x,y,z[,gx,gy,gz]")
    p.add_argument("--out", type=Path, required=True, help="directory for the result files")
    p.add_argument("--config", type=Path, help="TOML config (mountings, thresholds, alert policy)")
    p.add_argument("--acc-unit", choices=("auto", "m/s2", "g"), default="auto",
                   help="accelerometer unit of CSV files (default: detected from the magnitude at rest)")
    p.add_argument("--gyro-unit", choices=("auto", "rad/s", "deg/s"), default=None,
                   help="angular rate unit of CSV files (default: rad/s for a combined CSV, told "
                        "from the data for a per-location CSV)")
    p.add_argument("--time-unit", choices=TIME_UNITS, default="auto",
                   help="numeric CSV timestamps are Unix seconds, ms, us or ns (default: told from "
                        "their size, and reported)")
    p.add_argument("--tz", metavar="ZONE",
                   help="IANA time zone (e.g. Europe/Berlin) of date-times without an offset, and of "
                        "device clocks; daylight saving is applied")
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


def _read(args: argparse.Namespace, progress) -> Recording:
    """The combined CSV, or one file per location when the arguments are LOCATION=FILE."""
    if any("=" in f for f in args.files) or len(args.files) > 1:
        files = parse_location_args(args.files)
        return read_location_files(files, args.time_unit, args.tz, args.acc_unit,
                                   args.gyro_unit or "auto", progress=progress)
    if is_archive(args.files[0]):  # the schema fixes units and time: no unit options apply
        return read_archive(args.files[0], progress=progress)
    return read_recording(args.files[0], args.acc_unit, args.gyro_unit or "rad/s", progress=progress,
                          time_unit=args.time_unit, tz=args.tz)


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
        ensure_out_dir(args.out)  # refused before an hour of analysis, not after
        rec = _read(args, lambda f: progress(0.3 * f, "reading"))
        result = run_replay(rec.blocks, cfg, cals, not args.no_align, read=rec.report,
                            progress=lambda f, d="": progress(0.3 + 0.7 * f, d))
        result.notes = rec.report.notes + result.notes
        write_results(result, args.out)
    except (RecordingError, OutputsError) as exc:
        progress.done()
        print(f"posturewatch replay: {exc}", file=sys.stderr)
        return 2
    progress.done()
    print(_summary(result))
    print(f"wrote {args.out}/angles.csv, episodes.csv, alerts.csv")
    return 0 if np.size(result.t) else 1
