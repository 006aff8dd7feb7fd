"""``posturewatch run``: the daemon on the configured sensors (or their emulators).

Reads one TOML config (every section checked by ``runtime.config``), connects every sensor
(reconnecting forever), runs the same session as ``demo`` and ``replay`` and sends the results
through the durable outbox to MQTT and InfluxDB (or the embedded store in the user's folder, where
``posturewatch report --config`` finds it). Loads the wearer's stored calibration when there is
one. Shows one updating status line on stderr (sensors, MQTT connection, outbox depth) and a
summary per sensor at the end. Without a Bluetooth adapter it says so in one line and exits 1;
``--emulate`` runs the same daemon against byte-exact emulated sensors moving like the
synthetic wearer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
from pathlib import Path

from posturewatch.app.terminal import LiveLine
from posturewatch.ingest.ble.client import NoAdapterError
from posturewatch.runtime import config as app_config
from posturewatch.runtime.calibration_file import load_calibrations
from posturewatch.runtime.daemon import daemon_session, make_backend
from posturewatch.runtime.outputs import OutputsError
from posturewatch.runtime.session import Session

HELP = "the daemon: read the configured BLE sensors and publish"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True,
                        help="TOML config with [[sensors]] (see deploy/example-sensors.toml)")
    parser.add_argument("--emulate", action="store_true",
                        help="use emulated sensors instead of a Bluetooth adapter")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: run until interrupted)")
    parser.add_argument("--calibration", type=Path, default=None,
                        help="stored calibration (default: the one `posturewatch calibrate` wrote)")
    parser.add_argument("--quiet", action="store_true", help="no status line")


def status_line(status: dict) -> str:
    """Sensors, then where the data goes: ``mqtt connected|connecting|down`` and the outbox."""
    parts = []
    for location, s in status["sensors"].items():
        rate = f"{s['rate_hz']:.0f}Hz" if s.get("rate_hz") else "-"
        battery = f" {s['battery_pct']:.0f}%" if s.get("battery_pct") is not None else ""
        mounting = " mounting unknown" if s.get("mounting") == "unknown" else ""
        slips = f" slipped {s['slips']}×" if s.get("slips") else ""
        parts.append(f"{location}:{s['state']} {rate} loss {s.get('loss_pct', 0.0):.1f}%{battery}"
                     f"{mounting}{slips}")
    if status.get("mqtt", "off") != "off":
        parts.append(f"mqtt {status['mqtt']}")
    parts.append(f"outbox {status.get('outbox', 0)}")
    reminders = status.get("reminders")
    if reminders and reminders["budget"]:
        parts.append(f"reminders {reminders['used']}/{reminders['budget']}"
                     + (" (none left today)" if reminders["exhausted"] else ""))
    return " | ".join(parts)


class _StatusView:
    def __init__(self, line: LiveLine) -> None:
        self.line = line

    def update(self, session: Session, step) -> None:
        self.tick(session)

    def tick(self, session: Session) -> None:
        self.line.show(f"{status_line(session.status())} | frames {session.frames_out}")


async def run_session(session: Session, duration: float | None) -> None:
    """Run until SIGINT/SIGTERM or ``duration``; a second signal ends at once."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def first(sig: signal.Signals) -> None:
        stop.set()
        loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, first, sig)
    await session.run(stop, duration_s=duration)


def run(args: argparse.Namespace) -> int:
    try:
        config = app_config.load(args.config)
        if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
            raise app_config.ConfigError(f"--duration must be a positive number of seconds, "
                                         f"got {args.duration}")
        if config.ble is None:
            raise app_config.ConfigError(f"{args.config}: no [[sensors]] table: "
                                         "the daemon needs at least one")
    except app_config.ConfigError as exc:
        print(f"posturewatch run: {exc}", file=sys.stderr)
        return 2
    backend = make_backend(config.ble, args.emulate)
    cal_path = args.calibration or config.paths.calibration
    calibrations, notes = load_calibrations(cal_path, config.pipeline.declared)
    line = LiveLine(enabled=False if args.quiet else None)
    session = daemon_session(config, backend, calibrations=calibrations, calibration_file=cal_path,
                             views=[_StatusView(line)])
    web = None
    if "web" in config.sections:  # [web] configured: the app runs beside the daemon
        from posturewatch.web.server import start_web

        try:
            web = start_web(config)
        except (OSError, RuntimeError, ValueError) as exc:
            print(f"posturewatch run: web app: {exc}", file=sys.stderr)
            return 2
        print(f"web app: {web.url}/", file=sys.stderr)
    try:
        with line:
            asyncio.run(run_session(session, args.duration))
    except NoAdapterError as exc:
        print(f"posturewatch run: {exc}", file=sys.stderr)
        return 1
    except OutputsError as exc:
        print(f"posturewatch run: {exc}", file=sys.stderr)
        return 2
    finally:
        if web is not None:
            web.stop()
    for note in notes:
        print(note)
    status = session.status()
    for location, s in status["sensors"].items():
        print(f"{location}: {s['family']} {s['address'] or '?'} samples {s['samples']} "
              f"lost {s['lost']} ({s['loss_pct']:.2f}%) dup {s['duplicates']} gaps {s['gaps']} "
              f"bad {s['bad_packets']} connections {s['connections']} "
              f"battery {s['battery_pct'] if s['battery_pct'] is not None else '?'}"
              + (f" last error: {s['last_error']}" if s["last_error"] else "")
              + (f"; mounting {s['mounting']}, {s['slips']} slips, last change {s['mounting_changed']}: "
                 f"{s['mounting_note']}" if s.get("mounting_note") else ""))
    ble = session.source.ble
    print(f"{ble.samples_out} samples delivered, {session.frames_out} frames analysed, "
          f"{session.alerts_out} alerts, sink errors {ble.sink_errors}")
    print(f"data: {config.paths.root}" + (f" (mqtt {status['mqtt']}, {status['outbox']} queued)"
                                          if status.get("mqtt", "off") != "off" else ""))
    return 0
