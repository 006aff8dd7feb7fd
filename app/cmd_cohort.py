"""`posturewatch cohort MANIFEST.csv|DIR --out DIR`: replay a study's recordings on Dask and
tabulate them (per participant the replay's files; cohort tables and a report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from posturewatch.app.terminal import LiveLine
from posturewatch.ingest.timestamps import TIME_UNITS

HELP = "replay a study's recordings on a Dask cluster, resumably, and tabulate them"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _memory(text: str) -> int:
    from dask.utils import parse_bytes

    try:
        return int(parse_bytes(text))
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"{text!r}: a size like 2GiB or 1500MB") from None


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", type=Path, metavar="MANIFEST.csv|DIR",
                   help="a manifest CSV (columns participant, file or files or one per location, tz, "
                        "config, acc_unit, gyro_unit, time_unit, SECTION.KEY overrides), or a folder "
                        "with one combined CSV or one sub-folder of per-location files per participant")
    p.add_argument("--out", type=Path, required=True,
                   help="folder for <participant>/ results, cohort tables, report and failed.csv; "
                        "running again skips what is finished")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, default=None,
                       help="local worker processes, one thread each (default: the number of cores)")
    where.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="an existing Dask scheduler; its workers must see --out and the inputs "
                            "at the same paths")
    p.add_argument("--connect-timeout", type=float, default=30.0, metavar="S",
                   help="seconds to wait for --scheduler to answer before giving up (default 30)")
    p.add_argument("--memory-limit", type=_memory, metavar="SIZE",
                   help="memory per local worker, e.g. 3GiB (default: total RAM / workers, at most 4 GiB)")
    p.add_argument("--retries", type=int, default=2,
                   help="times a task is retried after a worker died or an unexpected error "
                        "(bad files are not retried; default 2)")
    p.add_argument("--config", type=Path, help="TOML config for every participant (a manifest 'config' "
                                               "cell replaces it for that row)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="config override for every participant, e.g. episodes.tilt_enter=-20 (repeatable)")
    p.add_argument("--tz", metavar="ZONE", help="IANA time zone for rows without a tz")
    p.add_argument("--acc-unit", choices=("auto", "m/s2", "g"), default="auto",
                   help="accelerometer unit of CSV files (default: detected)")
    p.add_argument("--gyro-unit", choices=("auto", "rad/s", "deg/s"), default=None,
                   help="angular rate unit of CSV files (default: as replay)")
    p.add_argument("--time-unit", choices=TIME_UNITS, default="auto",
                   help="unit of numeric CSV timestamps (default: told from their size)")
    p.add_argument("--no-align", action="store_true", help="trust the files' timestamps as they are")
    p.add_argument("--valid-day-min", type=float, default=600.0, metavar="MIN",
                   help="monitored minutes that make a valid day for the per-participant means "
                        "(default 600 = 10 h)")


def run(args: argparse.Namespace) -> int:
    if not args.scheduler:  # local workers: their server imports the pipeline while we read the manifest
        from posturewatch.cohort import workerserver

        workerserver.start()
    from posturewatch.cohort.cluster import CohortError, usable_cores
    from posturewatch.cohort.manifest import Defaults, ManifestError, load_specs, parse_override
    from posturewatch.cohort.runner import CohortOptions, run_cohort

    try:
        overrides = dict(parse_override(item) for item in args.overrides)
    except ValueError as exc:
        print(f"posturewatch cohort: --set {exc}", file=sys.stderr)
        return 2
    defaults = Defaults(args.config, overrides, args.tz, args.acc_unit, args.gyro_unit, args.time_unit,
                        not args.no_align)
    try:
        specs = load_specs(args.source, defaults)
    except ManifestError as exc:
        for line in exc.lines:
            print(f"posturewatch cohort: {line}", file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"posturewatch cohort: --out {args.out} is not a folder", file=sys.stderr)
        return 2
    options = CohortOptions(workers=args.workers or usable_cores(), scheduler=args.scheduler,
                            memory_limit=args.memory_limit, retries=max(0, args.retries),
                            valid_min=args.valid_day_min, connect_timeout=args.connect_timeout)
    line = LiveLine()

    def say(text: str) -> None:
        line.clear()
        line.text = ""  # out of date after this event; the next status redraws it
        print(text, file=sys.stderr, flush=True)

    try:
        with line:
            # the live line asks the scheduler what runs: only when a terminal shows it
            outcome = run_cohort(specs, args.out, options, say=say,
                                 status=line.show if line.enabled else None)
            line.clear()
            line.text = ""  # the finished lines said it all: no stale status line left behind
    except CohortError as exc:
        print(f"posturewatch cohort: {exc}", file=sys.stderr)
        return 2
    if outcome.interrupted:
        print(f"interrupted: {len(outcome.done)} finished in this run, {len(outcome.skipped)} before; "
              "run the same command again to continue", file=sys.stderr)
        return 130
    print(f"{len(outcome.done)} replayed, {len(outcome.skipped)} already finished, "
          f"{len(outcome.failed)} failed in {outcome.seconds:.0f} s")
    for f in outcome.failed:
        print(f"failed: {f['participant']}: {f['error']}")
    print(f"wrote {args.out}/cohort_days.csv|.parquet, cohort_participants.csv|.parquet, "
          f"cohort_report.png|.html" + (", failed.csv" if outcome.failed else ""))
    return 1 if outcome.failed else 0
