"""`posturewatch report --days N` / `--from D --to D`: the trends report of a week, a month or
any period, from the embedded store or a replay folder (the same sources as the daily report).

``cmd_report`` hands over to ``run_trends`` when a period is asked for; options, store lookup and
messages follow the daily report's.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date


def configure_period(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=None, metavar="N",
                        help="trends over the last N days (7: a week, 30: a month) as PNG, HTML and PDF")
    parser.add_argument("--from", dest="from_day", default=None, metavar="YYYY-MM-DD",
                        help="first day of a trends report (with --to, or up to the latest day)")
    parser.add_argument("--to", dest="to_day", default=None, metavar="YYYY-MM-DD",
                        help="last day of a trends report (default: the latest day with data)")


def wants_trends(args: argparse.Namespace) -> bool:
    return args.days is not None or args.from_day is not None or args.to_day is not None


def _check(args: argparse.Namespace) -> None:
    if args.day is not None:
        raise ValueError("--day is one day's report; use --from/--to or --days for trends")
    if args.days is not None and args.from_day is not None:
        raise ValueError("give either --days or --from, not both")
    if args.days is not None and not 1 <= args.days <= 366:
        raise ValueError(f"--days must be within 1…366, got {args.days}")
    for flag, value in (("--from", args.from_day), ("--to", args.to_day)):
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError as exc:
                raise ValueError(f"{flag} must be a date YYYY-MM-DD ({exc})") from None


def run_trends(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from posturewatch.analytics.report_trends import write_trends_report
    from posturewatch.app.cmd_report import _store_folder
    from posturewatch.app.progress import Progress
    from posturewatch.app.report_data import LoadReport, ReportDataError
    from posturewatch.app.trends_data import trend_from_replay, trend_from_store
    from posturewatch.runtime import config as configuration

    try:
        _check(args)
        cfg = configuration.load(args.config)
        tz = args.tz or cfg.alerts.timezone
        ZoneInfo(tz)
    except (configuration.ConfigError, ValueError, ZoneInfoNotFoundError) as exc:
        print(f"posturewatch report: {exc}", file=sys.stderr)
        return 2
    user = args.user or (cfg.user if args.config else None)
    training = cfg.alerts.training
    progress = Progress("report")
    loaded = LoadReport()
    try:
        progress(0.1, "reading")
        if args.replay is not None:
            trend = trend_from_replay(args.replay, args.from_day, args.to_day, args.days, tz,
                                      user or "replay", training, loaded)
            out = args.out or args.replay
        else:
            data_dir, user = _store_folder(args, cfg, user, loaded)
            trend = trend_from_store(data_dir, user, args.from_day, args.to_day, args.days, tz, training)
            out = args.out or data_dir / "reports"
        progress(0.5, "drawing")
        files = write_trends_report(trend, out)
    except (ReportDataError, OSError) as exc:
        progress.done()
        print(f"posturewatch report: {exc}", file=sys.stderr)
        return 1
    progress.done()
    loaded.print_to(sys.stderr)
    print(f"{trend.user}, {trend.days[0]} to {trend.days[-1]}: worn on {len(trend.worn_days())} of "
          f"{len(trend.days)} days")
    for path in (files.html, files.png, files.pdf):
        print(f"wrote {path}")
    return 0
