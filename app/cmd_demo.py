"""`posturewatch demo`: a simulated working day through the live path, nothing to configure.

Starts an embedded MQTT broker (amqtt, 3.1.1) on a free local port unless ``--mqtt-url`` is
given, stores into the embedded SQLite store under ``--data-dir``, shows a live view, and at
the end (or on Ctrl-C / SIGTERM / ``--duration``) flushes the outbox and writes the day's report.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from posturewatch.runtime import config as configuration

HELP = "everything in one process on simulated sensors and embedded defaults"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hours", type=float, default=None, help="simulated hours (default 8)")
    parser.add_argument("--speed", type=float, default=None,
                        help="sim seconds per wall second (default 120: 8 h in 4 min)")
    parser.add_argument("--seed", type=int, default=None, help="wearer seed (default 1)")
    parser.add_argument("--start", default=None, metavar="ISO",
                        help="sim start, RFC 3339 (default: today 08:00 in the alert time zone)")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S wall seconds")
    parser.add_argument("--mqtt-url", default=None,
                        help="publish to this broker (mqtt://[user:pass@]host:port), not an embedded one")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder for the embedded store, outbox and reports "
                             "(default: ~/.local/share/posturewatch/<user>, user 'demo')")
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML config (user, thresholds, alerts, [demo])")
    parser.add_argument("--chain-minutes", type=float, default=15.0,
                        help="report: tilt-before-forward-head window (default 15)")
    parser.add_argument("--no-report", action="store_true", help="do not write the daily report")
    parser.add_argument("--no-web", action="store_true",
                        help="do not serve the web app (by default it runs on a free local port, "
                             "URL printed)")
    parser.add_argument("--quiet", action="store_true", help="no live view")


def _options(args: argparse.Namespace, cfg: configuration.Config):
    from posturewatch.runtime.demo import DemoOptions
    from posturewatch.simulators.config import parse_start

    section = cfg.demo

    def pick(name: str, default):
        value = getattr(args, name)
        return value if value is not None else section.get(name, default)

    data_dir = args.data_dir or (Path(section["data_dir"]) if "data_dir" in section else cfg.paths.root)
    return DemoOptions(
        data_dir=Path(data_dir).expanduser(),
        hours=float(pick("hours", 8.0)),
        speed=float(pick("speed", 120.0)),
        seed=int(pick("seed", 1)),
        start=parse_start(args.start) if args.start else None,
        duration=args.duration,
        mqtt_url=pick("mqtt_url", None),
        chain_minutes=args.chain_minutes,
        report=not args.no_report,
        web=not args.no_web,
    )


def run(args: argparse.Namespace) -> int:
    from posturewatch.app.demo_broker import BrokerError
    from posturewatch.app.demo_view import LiveView
    from posturewatch.runtime.demo import DemoRun, summary_lines

    try:
        cfg = configuration.load(args.config)
        if args.config is None:
            cfg.user = "demo"
        options = _options(args, cfg)
        options.validate()
    except (configuration.ConfigError, ValueError) as exc:
        print(f"posturewatch demo: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {}

    def request_stop(signum, _frame) -> None:
        stop.set()
        # a second Ctrl-C while shutting down ends at once
        signal.signal(signum, previous.get(signum, signal.SIG_DFL))

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread (embedded use)
            previous[sig] = signal.signal(sig, request_stop)
    view = LiveView(cfg.alerts.zone, quiet=args.quiet)
    try:
        result = DemoRun(options, cfg, view, stop).run()
    except BrokerError as exc:
        print(f"posturewatch demo: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a bad --mqtt-url
        print(f"posturewatch demo: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)
    for line in summary_lines(result, cfg.alerts.zone):
        print(line)
    return 0
