"""The live daemon: BLE sensors → Monitor → OutputHub/outbox → MQTT, InfluxDB or the local store.

``Daemon`` glues the parts together and owns nothing of their logic: the BLE daemon
(``ingest.ble``) delivers host-time blocks, the same ``Monitor`` the replay uses turns them into
frames, episode events and alerts, ``OutputHub`` queues everything in the durable outbox whose
pumps feed MQTT and InfluxDB (or writes the embedded SQLite store), and ``UserMqttService``
publishes the retained ``status`` (each sensor's connection, battery, rate, loss and gaps),
regularly and on every change, and answers ``cmd/snooze``, ``cmd/calibrate`` and ``cmd/config``.

Commands arrive on paho's network thread while blocks are analysed on the event loop; one lock
keeps them from touching the alert policy and the calibrations at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from posturewatch.alerts.monitor import Monitor, MonitorOutput
from posturewatch.alerts.mqtt.commands import CommandService
from posturewatch.alerts.mqtt.link import MqttSettings
from posturewatch.alerts.mqtt.payloads import Topics
from posturewatch.analytics.pipeline import PipelineSettings
from posturewatch.ingest.ble.client import BleBackend
from posturewatch.ingest.ble.config import DaemonConfig
from posturewatch.ingest.ble.daemon import BleDaemon
from posturewatch.ingest.frames import FRAME_S
from posturewatch.ingest.mounting import Calibration, from_pose
from posturewatch.ingest.pose import summarize
from posturewatch.ingest.records import SensorBlock
from posturewatch.runtime.calibration_file import write_calibration
from posturewatch.runtime.config import Config
from posturewatch.store.hub import INFLUX, OutputHub
from posturewatch.store.influx import InfluxSettings
from posturewatch.store.lines import sensor_status_line
from posturewatch.store.outbox import TELEMETRY, Outbox

log = logging.getLogger(__name__)

LATENCY_S = 1.0  # frames end this far behind the clock: every sensor's samples are in by then
STATUS_CHECK_S = 1.0
FLUSH_S = 1.0  # blocks go to the Monitor once a second: its cost is mostly per call
CALIBRATION_WINDOW_S = 4.0
STATUS_KEYS = ("state", "connected", "family", "address", "battery_pct", "rate_hz", "nominal_rate_hz",
               "samples", "lost", "loss_pct", "duplicates", "gaps", "gap_s", "bad_packets",
               "connections", "disconnects", "connect_failures", "stalls", "late_samples",
               "clock_drift_ppm", "last_error")


@dataclass(frozen=True)
class StoreSettings:
    """``[store]``: where the outbox (and the SQLite store, when used) live."""

    dir: Path
    sqlite: bool = True
    outbox_max_rows: int = 1_000_000
    synchronous: str = "NORMAL"


@dataclass(frozen=True)
class DaemonSettings:
    """Everything the daemon needs besides the analysis config (see ``cmd_run.daemon_settings``)."""

    ble: DaemonConfig
    pipeline: PipelineSettings
    store: StoreSettings
    mqtt: MqttSettings | None = None
    influx: InfluxSettings | None = None
    prefix: str = "posturewatch"
    home_assistant: bool = True
    discovery_prefix: str = "homeassistant"
    status_interval_s: float = 30.0

    def mountings(self) -> dict[str, dict[str, str]]:
        """Declared mounting per location, as stored with a calibration."""
        return {loc: {k: v for k, v in zip(("superior", "anterior"), axes, strict=True) if v}
                for loc, axes in self.pipeline.mountings.items()}


class Daemon:
    """One wearer's daemon; ``await run()`` until stopped, then everything is flushed and closed."""

    def __init__(
        self,
        config: Config,
        settings: DaemonSettings,
        backend: BleBackend,
        *,
        calibrations: Mapping[str, Calibration] | None = None,
        calibration_path: Path | None = None,
        now: Callable[[], float] = time.time,
        **ble_options,
    ) -> None:
        self.config = config
        self.settings = settings
        self.backend = backend
        self.now = now
        self.calibration_path = calibration_path
        self.monitor = Monitor(settings.pipeline, config.alerts, calibrations)
        ble_options.setdefault("flush_interval_s", FLUSH_S)
        self.ble = BleDaemon(settings.ble, backend, self._on_blocks, now=now, **ble_options)
        self.topics = Topics(config.user, settings.prefix)
        self.lock = threading.Lock()
        self.frames_out = 0
        self.alerts_out = 0
        self.status_published = 0
        self.outbox: Outbox | None = None
        self.hub: OutputHub | None = None
        self.service = None
        self.pumps: list = []
        self.sqlite = None
        self._recent: dict[str, deque[SensorBlock]] = {}
        self._status_sent_at = -np.inf
        self._status_signature: tuple = ()
        self._day: str | None = None

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Create the outbox, the store, the pumps and the MQTT service (not yet connected)."""
        from posturewatch.store.pumps import InfluxPump, MqttPump

        s = self.settings
        self.outbox = Outbox(s.store.dir / "outbox.db", max_rows=s.store.outbox_max_rows,
                             synchronous=s.store.synchronous)
        if s.store.sqlite:
            from posturewatch.store.sqlite import SqliteStore

            self.sqlite = SqliteStore(s.store.dir / "posturewatch.sqlite")
        self.hub = OutputHub(self.config.user, self.outbox, policy=self.monitor.policy,
                             prefix=s.prefix, mqtt=s.mqtt is not None, influx=s.influx is not None,
                             full_rate=bool(s.influx and s.influx.full_rate), sqlite=self.sqlite)
        if s.mqtt is not None:
            from posturewatch.alerts.mqtt.service import UserMqttService

            commands = CommandService(self.monitor.policy, clock=self.now,
                                      calibrate=self.calibrate_now, lock=self.lock)
            self.service = UserMqttService(s.mqtt, self.topics, commands, clock=self.now,
                                           home_assistant=s.home_assistant,
                                           discovery_prefix=s.discovery_prefix)
            self.pumps.append(MqttPump(self.outbox, self.service.link))
        if s.influx is not None:
            from posturewatch.store.influx import InfluxWriter

            self.pumps.append(InfluxPump(self.outbox, InfluxWriter(s.influx),
                                         batch_lines=s.influx.batch_lines))

    async def run(self, duration_s: float | None = None, stop: asyncio.Event | None = None) -> None:
        """Check the adapter, start every output, stream until stopped, then close cleanly."""
        await self.backend.check_adapter()
        if self.outbox is None:
            self.open()
        for pump in self.pumps:
            pump.start()
        if self.service is not None:
            self.service.start()
        watcher = asyncio.create_task(self._watch_status(), name="status")
        try:
            await self.ble.run(duration_s=duration_s, stop=stop)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await asyncio.get_running_loop().run_in_executor(None, self.close)

    def close(self, drain_s: float = 10.0) -> None:
        """End the session: final frames and episodes out, status published, outputs drained."""
        if self.hub is None:
            return
        with self.lock:
            self._emit(self.monitor.close(), self.now())
        self.hub.finish()
        self._publish_status(force=True)
        if self._day is not None:
            self.hub.write_daily_summary(self._day)
        for pump in self.pumps:
            pump.wait_drained(drain_s)
            pump.stop()
        if self.service is not None:
            self.service.close()
        if self.sqlite is not None:
            self.sqlite.close()
        self.outbox.close()
        self.hub = None

    # ------------------------------------------------------------------ data path
    def _on_blocks(self, blocks: list[SensorBlock]) -> None:
        now = self.now()
        with self.lock:  # the hub reads the policy a command may be changing
            self._remember(blocks)
            self._emit(self.monitor.push(blocks, until=now - LATENCY_S), now)

    def _emit(self, out: MonitorOutput, now: float) -> None:
        frames = out.frames
        if self.hub is None or (not len(frames) and not frames.events and not out.alerts):
            return
        end = float(frames.t[-1]) + FRAME_S if len(frames) else now - LATENCY_S
        self.hub.process(frames.t, frames.angles, frames.posture, frames.events, out.alerts, end)
        self.frames_out += len(frames)
        self.alerts_out += len(out.alerts)
        if len(frames):
            self._roll_day(float(frames.t[-1]))

    def _roll_day(self, ts: float) -> None:
        day = datetime.fromtimestamp(ts, self.monitor.policy.settings.zone).date().isoformat()
        if self._day is not None and day != self._day:
            self.hub.write_daily_summary(self._day)
        self._day = day

    def _remember(self, blocks: list[SensorBlock]) -> None:
        """The last few seconds per location, for a calibration asked for over MQTT."""
        for block in blocks:
            recent = self._recent.setdefault(block.location, deque())
            recent.append(block)
            while recent and recent[0].t[-1] < block.t[-1] - 1.5 * CALIBRATION_WINDOW_S:
                recent.popleft()

    def calibrate_now(self, body: Mapping[str, object] | None = None) -> dict[str, object]:
        """Neutral-pose calibration from the last seconds of data (``cmd/calibrate``; the caller
        holds the lock). Applied at once and stored for the next start; raises when not still."""
        blocks = [b for recent in self._recent.values() for b in recent]
        poses = summarize(blocks, CALIBRATION_WINDOW_S) if blocks else {}
        problems = [f"{loc}: {e['error']}" for loc, e in poses.items() if "error" in e]
        if not poses or problems:
            raise ValueError("; ".join(problems) or "no sensor data yet")
        pipeline = self.monitor.pipeline
        for location, entry in poses.items():
            declared = self.settings.pipeline.declared(location)
            pipeline.calibrations[location] = from_pose(declared, np.asarray(entry["acc_mean"]))
        if self.calibration_path is not None:
            write_calibration(self.calibration_path, self.config.user, self.settings.mountings(),
                              {"neutral": poses})
        return {"locations": sorted(poses)}

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, dict[str, object]]:
        """Per sensor: connection, battery, rate, loss, gaps (the ``sensors`` of the status topic)."""
        snapshot = self.ble.status()["sensors"]
        late = self.monitor.pipeline.counters
        out = {}
        for location, s in snapshot.items():
            s = {**s, "late_samples": int(late.get(f"{location}_late_samples", 0))}
            out[location] = {k: s.get(k) for k in STATUS_KEYS}
        return out

    async def _watch_status(self) -> None:
        while True:
            self._publish_status()
            await asyncio.sleep(STATUS_CHECK_S)

    def _publish_status(self, force: bool = False) -> None:
        sensors = self.status()
        signature = tuple((loc, s["state"], s["battery_pct"] is None) for loc, s in sensors.items())
        now = self.now()
        due = now - self._status_sent_at >= self.settings.status_interval_s
        if not (force or due or signature != self._status_signature):
            return
        self._status_sent_at, self._status_signature = now, signature
        self.status_published += 1
        if self.service is not None:
            self.service.publish_status(sensors)
        if self.hub is not None and self.hub.influx:
            lines = [sensor_status_line(self.config.user, loc, now, connected=bool(s["connected"]),
                                        battery_pct=s["battery_pct"], rate_hz=s["rate_hz"],
                                        loss_pct=s["loss_pct"]) for loc, s in sensors.items()]
            self.outbox.put(INFLUX, "\n".join(lines), priority=TELEMETRY)
        if self.sqlite is not None:
            for loc, s in sensors.items():
                self.sqlite.write_sensor_status(self.config.user, loc, now, connected=bool(s["connected"]),
                                                battery_pct=s["battery_pct"], rate_hz=s["rate_hz"],
                                                loss_pct=s["loss_pct"])

