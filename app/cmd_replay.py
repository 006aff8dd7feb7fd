"""`posturewatch replay FILE --out DIR` (or one LOCATION=FILE per worn sensor): run the pipeline
over recorded files and write results: angles.csv (1 Hz), episodes.csv and alerts.csv for the
whole recording, the same per local day under days/YYYY-MM-DD/, and daily.csv. A combined CSV is
streamed in two passes, so any length fits in memory."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from posturewatch.analytics.records import Posture
from posturewatch.app.progress import Progress
from posturewatch.ingest.locationfiles import parse_location_args, read_location_files
from posturewatch.ingest.recording import RecordingError
from posturewatch.ingest.timestamps import TIME_UNITS, TimestampError, check_zone
from posturewatch.runtime import config as configuration
from posturewatch.runtime.calibration_file import load_calibrations
from posturewatch.runtime.outputs import OutputsError, ensure_out_dir
from posturewatch.runtime.replay import ReplayRun, replay_file, replay_to_folder

HELP = ("run the pipeline over a recorded file of any length and write angles.csv, episodes.csv, "
        "alerts.csv (whole recording and per local day)")


MEMORY = ("memory: a combined CSV or a Parquet archive is streamed, so memory does not grow with its "
          "length; between the two passes the decoded samples wait in an unnamed spool file in --out "
          "(about 0.8 GB of disk per day of three 100 Hz sensors, given back at the end). Device files "
          "(.cwa, .gt3x, .bin) are decoded whole by their reader, which cannot read part of a file: "
          "a day of a 100 Hz AX6 file needs about 600 MB to read (700 MB for its whole replay), a week "
          "about 4 GB, so replay long device recordings on a machine with that much memory.")


def configure(p: argparse.ArgumentParser) -> None:
    p.epilog = MEMORY
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
                   help="IANA time zone (e.g. Europe/Berlin) of date-times without an offset and of "
                        "device clocks (daylight saving applied); also the zone of the results' local "
                        "times and days (default: the config's alerts.timezone)")
    p.add_argument("--calibration", type=Path, help="calibration file written by `posturewatch calibrate`")
    p.add_argument("--no-align", action="store_true", help="trust the file's timestamps as they are")


def _summary(run: ReplayRun) -> str:
    lines = []
    frames = run.tally.frames
    total = sum(frames.values())
    if total:
        share = ", ".join(f"{Posture(k).label} {v / total * 100:.0f}%" for k, v in sorted(frames.items()))
        lines.append(f"{total / 36000:.2f} h analysed: {share}")
    kinds = run.tally.episodes
    lines.append("episodes: " + (", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"))
    lines.append(f"alerts: {run.tally.alerts}")
    days = [d.day for d in run.tally.days]
    if days:
        lines.append(f"days: {len(days)} ({days[0]} … {days[-1]})" if len(days) > 1 else f"day: {days[0]}")
    lines.append("input: " + run.read.summary())
    for note in run.notes:
        lines.append(note if note.startswith("  ") else "note: " + note)
    extra = {k: v for k, v in run.counters.items() if v}
    if extra:
        lines.append("counters: " + ", ".join(f"{k}={v}" for k, v in sorted(extra.items())))
    return "\n".join(lines)


def _replay(args: argparse.Namespace, cfg, cals, progress) -> ReplayRun:
    """The combined CSV or a Parquet archive streamed; one file per location read whole (device
    files are decoded by their library in one go), then streamed from memory."""
    align = not args.no_align
    if any("=" in f for f in args.files) or len(args.files) > 1:
        files = parse_location_args(args.files)
        rec = read_location_files(files, args.time_unit, args.tz, args.acc_unit, args.gyro_unit or "auto",
                                  progress=lambda f: progress(0.3 * f, "reading"))
        return replay_to_folder(rec.blocks, args.out, cfg, cals, align, read=rec.report,
                                progress=lambda f, d="": progress(0.3 + 0.7 * f, d))
    return replay_file(args.files[0], args.out, cfg, args.acc_unit, args.gyro_unit or "rad/s",
                       progress=progress, align=align, calibrations=cals, time_unit=args.time_unit,
                       tz=args.tz)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = configuration.load(args.config)
        if args.tz:  # the results' local times and days follow the zone given for the file
            check_zone(args.tz)
            cfg = dataclasses.replace(cfg, alerts=dataclasses.replace(cfg.alerts, timezone=args.tz))
    except (configuration.ConfigError, TimestampError) as exc:
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
        result = _replay(args, cfg, cals, progress)
    except (RecordingError, OutputsError) as exc:
        progress.done()
        print(f"posturewatch replay: {exc}", file=sys.stderr)
        return 2
    progress.done()
    print(_summary(result))
    print(f"wrote {args.out}/angles.csv, episodes.csv, alerts.csv, mountings.csv, daily.csv and days/<day>/")
    return 0 if result.tally.seconds else 1
