"""`posturewatch report`: one day as a PNG and a self-contained HTML page.

From the embedded store (``--data-dir``, ``--user``, ``--day``; defaults: the store the demo
writes, its only user, the latest day) or from a replay's output folder (``--replay DIR``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

HELP = "daily trends as PNG and HTML"


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-dir", type=Path, default=None,
                        help="embedded store folder (default: ~/.local/share/posturewatch)")
    source.add_argument("--replay", type=Path, default=None, metavar="DIR",
                        help="a `posturewatch replay --out` folder (angles.csv, episodes.csv, alerts.csv)")
    parser.add_argument("--user", default=None, help="whose day (default: the store's only user)")
    parser.add_argument("--day", default=None, metavar="YYYY-MM-DD", help="local day (default: latest)")
    parser.add_argument("--tz", default=None,
                        help="IANA time zone of the day and the clock times (default: config or UTC)")
    parser.add_argument("--config", type=Path, default=None, help="TOML config (user, alerts.timezone)")
    parser.add_argument("--chain-minutes", type=float, default=15.0,
                        help="minutes a pelvic tilt may precede a forward-head episode (default 15)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: <data-dir>/reports or the replay folder)")


def run(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from posturewatch.analytics.report import write_report
    from posturewatch.app.progress import Progress
    from posturewatch.app.report_data import (
        LoadReport,
        ReportDataError,
        default_data_dir,
        load_replay,
        load_store,
    )
    from posturewatch.runtime import config as configuration

    try:
        cfg = configuration.load(args.config)
        tz = args.tz or cfg.alerts.timezone
        ZoneInfo(tz)
        if args.day is not None:
            try:
                date.fromisoformat(args.day)
            except ValueError as exc:
                raise ValueError(f"--day must be a date YYYY-MM-DD ({exc})") from None
        if not args.chain_minutes > 0:
            raise ValueError(f"--chain-minutes must be > 0, got {args.chain_minutes}")
    except (configuration.ConfigError, ValueError, ZoneInfoNotFoundError) as exc:
        print(f"posturewatch report: {exc}", file=sys.stderr)
        return 2
    user = args.user or (cfg.user if args.config else None)
    progress = Progress("report")
    loaded = LoadReport()
    try:
        progress(0.1, "reading")
        if args.replay is not None:
            data = load_replay(args.replay, args.day, tz, user or "replay", loaded)
            out = args.out or args.replay
        else:
            data_dir = args.data_dir or default_data_dir()
            data = load_store(data_dir, user, args.day, tz)
            out = args.out or data_dir / "reports"
        progress(0.4, "drawing")
        files = write_report(data, out, args.chain_minutes)
    except (ReportDataError, OSError) as exc:
        progress.done()
        print(f"posturewatch report: {exc}", file=sys.stderr)
        return 1
    progress.done()
    for note in loaded.notes:
        print(f"note: {note}", file=sys.stderr)
    if loaded.bad_rows:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(loaded.bad_rows.items()))
        print(f"skipped rows: {counts}", file=sys.stderr)
    s = files.stats
    print(f"{data.user} on {data.day}: sitting {s.sitting_s / 3600:.1f} h of {s.monitored_s / 3600:.1f} h, "
          f"{sum(s.episodes_by_kind.values())} episodes, {s.alerts_total} alerts, "
          f"chain {s.chained}/{len(s.chain)}")
    print(f"wrote {files.html}")
    print(f"wrote {files.png}")
    return 0
