"""`posturewatch report`: one day as a PNG and a self-contained HTML page (a period's trends with
``--days``/``--from``: ``trends_command``).

From the embedded store or from a replay's output folder (``--replay DIR``). The store is the
one ``run`` and ``demo`` write for the same user: ``--config`` (its user and ``[store] dir``),
``--user``, or ``--data-dir``; with none of them, the most recently written user's store.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

HELP = "a day's report (PNG, HTML), or trends over --days N (PNG, HTML, PDF)"


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding store.db (default: the user's folder, "
                             "~/.local/share/posturewatch/<user>)")
    source.add_argument("--replay", type=Path, default=None, metavar="DIR",
                        help="a `posturewatch replay --out` folder; its latest day unless --day "
                             "(the other days are listed)")
    parser.add_argument("--user", default=None, help="whose day (default: the store's only user)")
    parser.add_argument("--day", default=None, metavar="YYYY-MM-DD", help="local day (default: latest)")
    parser.add_argument("--tz", default=None,
                        help="IANA time zone of the day and the clock times (default: config or UTC)")
    parser.add_argument("--config", type=Path, default=None,
                        help="the TOML config `run` used: its user, [store] dir and alerts.timezone")
    parser.add_argument("--chain-minutes", type=float, default=15.0,
                        help="minutes a pelvic tilt may precede a forward-head episode (default 15)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: <data-dir>/reports or the replay folder)")
    from posturewatch.app.trends_command import configure_period

    configure_period(parser)


def _store_folder(args: argparse.Namespace, cfg, user: str | None, loaded) -> tuple[Path, str | None]:
    """Where the store is: --data-dir, else the config's or --user's folder, else the most
    recently written user's (the others are listed in a note)."""
    from posturewatch.app.report_data import ReportDataError
    from posturewatch.runtime.paths import UserPaths, data_root, known_users

    if args.data_dir is not None:
        return args.data_dir, user
    if args.config is not None:
        return cfg.paths.root, cfg.user
    if user is not None:
        return UserPaths.of(user).root, user
    users = known_users()
    if not users:
        raise ReportDataError(f"no embedded store under {data_root()}: run `posturewatch demo` or "
                              "`posturewatch run` first, or give --data-dir / --replay")
    if len(users) > 1:
        loaded.notes.append(f"showing {users[0]} (most recent); also stored: {', '.join(users[1:])} "
                            "(choose with --user)")
    return UserPaths.of(users[0]).root, users[0]


def run(args: argparse.Namespace) -> int:
    from posturewatch.app.trends_command import run_trends, wants_trends

    if wants_trends(args):
        return run_trends(args)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from posturewatch.analytics.report import write_report
    from posturewatch.app.progress import Progress
    from posturewatch.app.report_data import (
        LoadReport,
        ReportDataError,
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
            data_dir, user = _store_folder(args, cfg, user, loaded)
            data = load_store(data_dir, user, args.day, tz, cfg.alerts.daily_cap)
            out = args.out or data_dir / "reports"
        progress(0.4, "drawing")
        files = write_report(data, out, args.chain_minutes)
    except (ReportDataError, OSError) as exc:
        progress.done()
        print(f"posturewatch report: {exc}", file=sys.stderr)
        return 1
    progress.done()
    loaded.print_to(sys.stderr)
    s = files.stats
    print(f"{data.user} on {data.day}: sitting {s.sitting_s / 3600:.1f} h of {s.monitored_s / 3600:.1f} h, "
          f"{sum(s.episodes_by_kind.values())} episodes, {s.alerts_total} alerts, "
          f"chain {s.chained}/{len(s.chain)}")
    print(f"wrote {files.html}")
    print(f"wrote {files.png}")
    return 0
