"""``posturewatch run``: the BLE daemon on the configured sensors (or their emulators).

Reads ``[ble]`` and ``[[sensors]]`` from the TOML config, connects every sensor (reconnecting
forever), feeds the host-time blocks to the analysis pipeline and shows one updating status line
on stderr; a summary per sensor at the end. Without a Bluetooth adapter it says so in one line
and exits 1; ``--emulate`` runs the same daemon against byte-exact emulated sensors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time

from posturewatch.ingest.ble.client import BleBackend, NoAdapterError
from posturewatch.ingest.ble.config import ConfigError, DaemonConfig, load_config
from posturewatch.ingest.ble.daemon import BleDaemon
from posturewatch.ingest.ble.families import families

HELP = "the daemon: read the configured BLE sensors and publish"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True, help="TOML config with [[sensors]]")
    parser.add_argument("--emulate", action="store_true",
                        help="use emulated sensors instead of a Bluetooth adapter")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: run until interrupted)")
    parser.add_argument("--quiet", action="store_true", help="no status line")


def _wearer_motion(config: DaemonConfig, now):
    """The synthetic wearer's day as the emulators' motion, when the simulator is installed."""
    try:
        from posturewatch.simulators.config import WearerConfig
        from posturewatch.simulators.devices.motion import WearerMotion
        from posturewatch.simulators.wearer import iter_blocks
    except ImportError:
        return None
    locations = tuple(s.location for s in config.sensors)
    wearer = WearerConfig(hours=24.0, locations=locations, head="head" in locations)
    return WearerMotion(iter_blocks(wearer, chunk_s=10.0), start=now())


def make_backend(config: DaemonConfig, emulate: bool, now=time.time,
                 wearer: bool = True) -> BleBackend:
    """The emulated backend (one device per configured sensor, moving like the synthetic
    wearer unless ``wearer`` is False) or the real bleak one."""
    if emulate:
        from posturewatch.simulators.devices.backend import EmulatedBackend, emulate_config

        motion = _wearer_motion(config, now) if wearer else None
        return EmulatedBackend(emulate_config(config, now, motion=motion))
    from posturewatch.ingest.ble.bleak_backend import BleakBackend

    return BleakBackend(config.adapter)


def _pipeline_sink():
    """The analysis pipeline's ``push`` when it is available, else a counting sink."""
    try:
        from posturewatch.app.pipeline import Pipeline
    except ImportError:
        return lambda blocks: None
    pipeline = Pipeline()
    return lambda blocks: pipeline.push(blocks)


def status_line(status: dict) -> str:
    parts = []
    for location, s in status["sensors"].items():
        rate = f"{s['rate_hz']:.0f}Hz" if s["rate_hz"] else "-"
        battery = f" {s['battery_pct']:.0f}%" if s["battery_pct"] is not None else ""
        parts.append(f"{location}:{s['state']} {rate} loss {s['loss_pct']:.1f}%{battery}")
    return " | ".join(parts)


async def run_daemon(daemon: BleDaemon, backend: BleBackend, duration: float | None,
                     quiet: bool) -> None:
    await backend.check_adapter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    async def show() -> None:
        while True:
            await asyncio.sleep(1.0)
            print("\r" + status_line(daemon.status())[:200].ljust(80), end="", file=sys.stderr)

    shower = None if quiet else asyncio.create_task(show())
    try:
        await daemon.run(duration_s=duration, stop=stop)
    finally:
        if shower is not None:
            shower.cancel()
            print(file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, tuple(families()))
    except ConfigError as exc:
        print(f"posturewatch run: {exc}", file=sys.stderr)
        return 2
    backend = make_backend(config, args.emulate)
    daemon = BleDaemon(config, backend, _pipeline_sink())
    try:
        asyncio.run(run_daemon(daemon, backend, args.duration, args.quiet))
    except NoAdapterError as exc:
        print(f"posturewatch run: {exc}", file=sys.stderr)
        return 1
    for location, s in daemon.status()["sensors"].items():
        print(f"{location}: {s['family']} {s['address'] or '?'} samples {s['samples']} "
              f"lost {s['lost']} ({s['loss_pct']:.2f}%) dup {s['duplicates']} "
              f"bad {s['bad_packets']} connections {s['connections']} "
              f"battery {s['battery_pct'] if s['battery_pct'] is not None else '?'}"
              + (f" last error: {s['last_error']}" if s["last_error"] else ""))
    print(f"{daemon.samples_out} samples delivered, sink errors {daemon.sink_errors}")
    return 0
