"""``posturewatch run``: the daemon on the configured sensors (or their emulators).

Reads one TOML config (``app.config.load``): the analysis sections, ``[ble]`` and ``[[sensors]]``
(checked by ``ingest.ble.config``), ``[mqtt]``, ``[influx]`` and ``[store]`` (checked here against
their owners' settings classes). Connects every sensor (reconnecting forever), runs the same
Monitor as ``replay`` and sends the results through the outbox to MQTT and InfluxDB (or the
embedded SQLite store when no InfluxDB is configured). Loads the wearer's stored calibration when
there is one. Shows one updating status line on stderr and a summary per sensor at the end.
Without a Bluetooth adapter it says so in one line and exits 1; ``--emulate`` runs the same
daemon against byte-exact emulated sensors moving like the synthetic wearer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import signal
import sys
import time
from pathlib import Path

from posturewatch.alerts.mqtt.payloads import Topics
from posturewatch.ingest.ble.client import BleBackend, NoAdapterError
from posturewatch.ingest.ble.config import ConfigError, DaemonConfig, parse_config
from posturewatch.runtime import config as app_config
from posturewatch.runtime.calibration_file import calibration_path, load_calibrations
from posturewatch.runtime.daemon import Daemon, DaemonSettings, StoreSettings

HELP = "the daemon: read the configured BLE sensors and publish"

_MQTT_OWN_KEYS = {"prefix": str, "home_assistant": bool, "discovery_prefix": str,
                  "status_interval_s": float}
_SIMPLE_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "str | None": str}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True, help="TOML config with [[sensors]]")
    parser.add_argument("--emulate", action="store_true",
                        help="use emulated sensors instead of a Bluetooth adapter")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: run until interrupted)")
    parser.add_argument("--calibration", type=Path, default=None,
                        help="stored calibration (default: the one `posturewatch calibrate` wrote)")
    parser.add_argument("--quiet", action="store_true", help="no status line")


# ---------------------------------------------------------------------------- settings
def _check(value: object, kind: type, where: str) -> object:
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        # TOML has nan and inf literals; no timeout, interval or backoff here means anything with them
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if kind is int and isinstance(value, bool):
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{where} must be of type {kind.__name__}, got {value!r}")
    return value


def settings_from(cls: type, mapping: object, section: str, **defaults):
    """``cls`` (a settings dataclass) from a TOML table: unknown keys and wrong types are errors
    naming the key; ``defaults`` fill what the table leaves out."""
    if not isinstance(mapping, dict):
        raise ConfigError(f"[{section}] must be a table")
    types = {f.name: _SIMPLE_TYPES.get(str(f.type)) for f in dataclasses.fields(cls)}
    allowed = sorted(k for k, t in types.items() if t is not None)
    values = dict(defaults)
    for key, value in mapping.items():
        if types.get(key) is None:
            raise ConfigError(f"[{section}] unknown key {key!r}; allowed: {', '.join(allowed)}")
        values[key] = _check(value, types[key], f"[{section}] {key}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{section}] {exc}") from None


def _state_dir(user: str) -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "posturewatch" / user


def daemon_settings(config: app_config.Config) -> DaemonSettings:
    """Every daemon section of ``config`` checked and turned into settings (ConfigError if wrong)."""
    sections = config.sections
    source = str(config.path or "config")
    ble = parse_config(sections, source=source)
    mountings = dict(config.pipeline.mountings)
    for sensor in ble.sensors:
        axes = (sensor.mounting.get("superior"), sensor.mounting.get("anterior"))
        if sensor.mounting and mountings.get(sensor.location, axes) != axes:
            raise ConfigError(f"{source}: {sensor.location} mounting differs between [[sensors]] "
                              f"and [mounting.{sensor.location}]; declare it once")
        if sensor.mounting:
            mountings[sensor.location] = axes
    pipeline = dataclasses.replace(config.pipeline, mountings=mountings)
    own = {}
    mqtt = None
    if "mqtt" in sections:
        from posturewatch.alerts.mqtt.link import MqttSettings

        raw = dict(sections["mqtt"]) if isinstance(sections["mqtt"], dict) else sections["mqtt"]
        if isinstance(raw, dict):
            own = {k: _check(raw.pop(k), t, f"[mqtt] {k}") for k, t in _MQTT_OWN_KEYS.items() if k in raw}
        password = os.environ.get("POSTUREWATCH_MQTT_PASSWORD")
        mqtt = settings_from(MqttSettings, raw, "mqtt", client_id=f"posturewatch-daemon-{config.user}",
                             **({"password": password} if password else {}))
    influx = None
    if "influx" in sections:
        from posturewatch.store.influx import InfluxSettings

        token = os.environ.get("POSTUREWATCH_INFLUX_TOKEN")
        influx = settings_from(InfluxSettings, sections["influx"], "influx",
                               **({"token": token} if token else {}))
    store_raw = sections.get("store", {})
    store_dir = _state_dir(config.user)
    if isinstance(store_raw, dict) and "dir" in store_raw:
        store_raw = dict(store_raw)
        store_dir = Path(str(_check(store_raw.pop("dir"), str, "[store] dir"))).expanduser()
    store = settings_from(StoreSettings, store_raw, "store", dir=store_dir, sqlite=influx is None)
    if store.synchronous.upper() not in ("FULL", "NORMAL"):
        raise ConfigError(f"[store] synchronous must be \"FULL\" or \"NORMAL\", got {store.synchronous!r}")
    try:
        Topics(config.user, str(own.get("prefix", "posturewatch")))
    except ValueError as exc:
        raise ConfigError(f"[mqtt] prefix: {exc}") from None
    # checked here rather than in DaemonSettings (runtime/daemon.py) so the message names the key
    interval = own.get("status_interval_s", 30.0)
    if not (math.isfinite(interval) and interval > 0):
        raise ConfigError(f"[mqtt] status_interval_s must be a positive finite number, got {interval!r}")
    return DaemonSettings(ble=ble, pipeline=pipeline, store=store, mqtt=mqtt, influx=influx,
                          **{k: v for k, v in own.items()})


# ---------------------------------------------------------------------------- backends
def _wearer_motion(config: DaemonConfig, now):
    """The synthetic wearer's day as the emulators' motion.

    Clock errors, jitter, packet loss and dropouts are off: the emulated BLE link injects its
    own, and interpolating across the simulator's gaps would invent data.
    """
    from posturewatch.simulators.config import WearerConfig
    from posturewatch.simulators.devices.motion import WearerMotion
    from posturewatch.simulators.wearer import iter_blocks

    locations = tuple(s.location for s in config.sensors)
    wearer = WearerConfig(hours=24.0, locations=locations, head="head" in locations).with_realism(
        clock=False, jitter=False, packet_loss=False, dropout=False)
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


# ---------------------------------------------------------------------------- running
def status_line(sensors: dict) -> str:
    parts = []
    for location, s in sensors.items():
        rate = f"{s['rate_hz']:.0f}Hz" if s["rate_hz"] else "-"
        battery = f" {s['battery_pct']:.0f}%" if s["battery_pct"] is not None else ""
        parts.append(f"{location}:{s['state']} {rate} loss {s['loss_pct']:.1f}%{battery}")
    return " | ".join(parts)


async def run_daemon(daemon: Daemon, duration: float | None, quiet: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    async def show() -> None:
        while True:
            await asyncio.sleep(1.0)
            line = status_line(daemon.status())
            print("\r" + f"{line[:180]} | frames {daemon.frames_out}".ljust(80), end="", file=sys.stderr)

    shower = None if quiet else asyncio.create_task(show())
    try:
        await daemon.run(duration_s=duration, stop=stop)
    finally:
        if shower is not None:
            shower.cancel()
            print(file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    try:
        config = app_config.load(args.config)
        settings = daemon_settings(config)
    except (ConfigError, app_config.ConfigError) as exc:
        print(f"posturewatch run: {exc}", file=sys.stderr)
        return 2

    backend = make_backend(settings.ble, args.emulate)
    cal_path = args.calibration or calibration_path(config.user)
    calibrations, notes = load_calibrations(cal_path, settings.pipeline.declared)
    daemon = Daemon(config, settings, backend, calibrations=calibrations, calibration_path=cal_path)
    try:
        asyncio.run(run_daemon(daemon, args.duration, args.quiet))
    except NoAdapterError as exc:
        print(f"posturewatch run: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(note)
    for location, s in daemon.status().items():
        print(f"{location}: {s['family']} {s['address'] or '?'} samples {s['samples']} "
              f"lost {s['lost']} ({s['loss_pct']:.2f}%) dup {s['duplicates']} gaps {s['gaps']} "
              f"bad {s['bad_packets']} connections {s['connections']} "
              f"battery {s['battery_pct'] if s['battery_pct'] is not None else '?'}"
              + (f" last error: {s['last_error']}" if s["last_error"] else ""))
    print(f"{daemon.ble.samples_out} samples delivered, {daemon.frames_out} frames analysed, "
          f"{daemon.alerts_out} alerts, sink errors {daemon.ble.sink_errors}")
    return 0
