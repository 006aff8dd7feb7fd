"""The demo: a simulated wearer through the live path, in accelerated time, with a live view.

``iter_blocks`` (synthetic sensors) → ``Monitor.push`` (pipeline + alert policy) →
``OutputHub.process`` (durable outbox + embedded SQLite store) → ``MqttPump`` → an MQTT broker
(the embedded amqtt one, or ``--mqtt-url``). ``UserMqttService`` keeps the retained status with
its LWT, Home Assistant discovery and the command topics, so a phone or HA sees a real wearer.

Time: the simulated day is paced to ``speed`` × real time; the sim clock is the data's clock, and
every timestamp the demo publishes or stores is sim time. A stop request (``--duration``,
SIGINT, SIGTERM) ends the day early and cleanly: open episodes are closed, the outbox is
drained, the broker closed and the day's report written.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from posturewatch.alerts.monitor import Monitor, MonitorOutput
from posturewatch.alerts.mqtt.commands import CommandService
from posturewatch.alerts.mqtt.link import MqttSettings
from posturewatch.alerts.mqtt.service import UserMqttService
from posturewatch.analytics.records import Posture
from posturewatch.app.demo_broker import EmbeddedBroker, parse_mqtt_url
from posturewatch.app.demo_view import DemoSnapshot, LiveView
from posturewatch.ingest.frames import FRAME_S
from posturewatch.ingest.records import ANGLE_NAMES
from posturewatch.runtime.config import Config
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.wearer import iter_blocks
from posturewatch.store.hub import MQTT, OutputHub
from posturewatch.store.outbox import Outbox
from posturewatch.store.pumps import MqttPump
from posturewatch.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

OUTBOX_FILE = "demo-outbox.db"
BLOCK_WALL_S = 0.2  # wall seconds per block at the target speed
PUMP_WINDOW = 100


@dataclass
class DemoOptions:
    data_dir: Path
    hours: float = 8.0
    speed: float = 120.0
    seed: int = 1
    start: float | None = None  # sim start (Unix s); default today 08:00 in the alert time zone
    duration: float | None = None  # wall seconds
    mqtt_url: str | None = None
    chain_minutes: float = 15.0
    drain_s: float = 20.0
    report: bool = True

    def validate(self) -> None:
        """ValueError naming the option when a number is not positive and finite (inf hours
        never ends, inf speed overflows the block size, nan compares false everywhere)."""
        numbers = {"--hours": self.hours, "--speed": self.speed, "--duration": self.duration,
                   "--chain-minutes": self.chain_minutes, "drain_s": self.drain_s}
        for name, value in numbers.items():
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value}")


@dataclass
class DemoResult:
    broker_url: str
    sim_start: float
    sim_reached: float
    interrupted: bool
    episodes: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    published: int = 0
    undelivered: int = 0
    fell_back: bool = False
    report_html: Path | None = None
    report_png: Path | None = None
    day: str = ""


def default_start(config: Config, now: float | None = None) -> float:
    """Today at 08:00 in the alert time zone: a working day that starts in the morning."""
    zone = config.alerts.zone
    today = datetime.fromtimestamp(time.time() if now is None else now, zone).date()
    return datetime(today.year, today.month, today.day, 8, 0, tzinfo=zone).timestamp()


class _Tracker:
    """What the view shows, updated from each block's frames, events and alerts."""

    def __init__(self) -> None:
        self.posture = Posture.UNKNOWN
        self.since = math.nan
        self.angles: dict[str, float] = {}
        self.open: dict[str, tuple[str, float]] = {}
        self.episodes: Counter[str] = Counter()
        self.alerts: list[tuple[float, str, str]] = []
        self.alerts_total = 0
        self.sitting_s = 0.0

    def update(self, out: MonitorOutput) -> None:
        frames = out.frames
        if len(frames):
            codes = frames.posture.astype(np.int64)
            changed = np.flatnonzero(codes != np.concatenate(([int(self.posture)], codes[:-1])))
            if len(changed):
                self.posture = Posture(int(codes[changed[-1]]))
                self.since = float(frames.t[changed[-1]])
            self.sitting_s += float(np.sum(codes == int(Posture.SITTING))) * FRAME_S
            last = frames.t >= frames.t[-1] - 1.0
            for name in ANGLE_NAMES:
                values = frames.angles[name][last]
                values = values[np.isfinite(values)]
                self.angles[name] = float(values.mean()) if len(values) else math.nan
        for event in frames.events:
            ep = event.episode
            if event.type == "start":
                self.open[ep.id] = (ep.kind, ep.start)
                self.episodes[ep.kind] += 1
            else:
                self.open.pop(ep.id, None)
        for alert in out.alerts:
            self.alerts.append((alert.ts, alert.kind, alert.title))
        self.alerts = self.alerts[-20:]
        self.alerts_total += len(out.alerts)


class DemoRun:
    """One demo day; ``run()`` blocks until the day ends or ``stop`` is set."""

    def __init__(self, options: DemoOptions, config: Config, view: LiveView,
                 stop: threading.Event | None = None) -> None:
        options.validate()
        self.options = options
        self.config = config
        self.view = view
        self.stop = stop or threading.Event()
        self.sim_now = options.start if options.start is not None else default_start(config)
        self._lock = threading.Lock()
        self._tracker = _Tracker()

    def _mqtt_settings(self) -> tuple[MqttSettings, EmbeddedBroker | None]:
        client_id = f"posturewatch-demo-{self.config.user}"
        if self.options.mqtt_url:
            return parse_mqtt_url(self.options.mqtt_url, client_id), None
        broker = EmbeddedBroker()
        broker.start()
        # amqtt speaks 3.1.1 only and, given a v5 CONNECT that carries a will (our status LWT),
        # misparses it and never answers, so "auto" would wait for a refusal that never comes:
        # say 3.1.1 up front (v5-only options such as message expiry are then left out)
        return MqttSettings(host=broker.host, port=broker.port, client_id=client_id,
                            protocol="3.1.1"), broker

    def run(self) -> DemoResult:
        opts, cfg = self.options, self.config
        settings, broker = self._mqtt_settings()
        url = f"mqtt://{settings.host}:{settings.port}"
        watch = f"mosquitto_sub -h {settings.host} -p {settings.port} -t 'posturewatch/#' -v"
        self.view.message(f"broker: {url}{' (embedded amqtt)' if broker else ''} — watch with: {watch}")
        data_dir = Path(opts.data_dir)
        store = SqliteStore(data_dir / "store.db")
        outbox = Outbox(data_dir / OUTBOX_FILE, synchronous="NORMAL")
        monitor = Monitor(cfg.pipeline, cfg.alerts)
        hub = OutputHub(cfg.user, outbox, policy=monitor.policy, influx=False, sqlite=store)
        commands = CommandService(monitor.policy, clock=lambda: self.sim_now, lock=self._lock)
        service = UserMqttService(settings, hub.topics, commands, clock=lambda: self.sim_now)
        pump = MqttPump(outbox, service.link, window=PUMP_WINDOW)
        result = DemoResult(url, self.sim_now, self.sim_now, interrupted=False)
        try:
            service.start()
            pump.start()
            result.interrupted = self._loop(monitor, hub, service, pump, outbox, url)
            with self._lock:
                final = monitor.close()
            self._deliver(hub, final, self.sim_now)
            hub.finish()
            result.day = datetime.fromtimestamp(result.sim_start, cfg.alerts.zone).date().isoformat()
            hub.write_daily_summary(result.day, {
                "sitting_min": self._tracker.sitting_s / 60.0,
                "monitored_min": (self.sim_now - result.sim_start) / 60.0,
            })
            if service.link.connected and outbox.pending(MQTT):
                self.view.message(f"flushing {outbox.pending(MQTT)} queued MQTT messages…")
                pump.wait_drained(opts.drain_s)
        finally:
            pump.stop()
            result.published = pump.published
            result.fell_back = service.link.fell_back
            service.close()
            result.undelivered = outbox.pending(MQTT)
            outbox.close()
            if broker is not None:
                broker.stop()
        result.sim_reached = self.sim_now
        result.episodes = Counter(self._tracker.episodes)
        result.alerts = self._tracker.alerts_total
        try:
            if opts.report:
                self._report(store, result)
        finally:
            store.close()
        return result

    def _loop(self, monitor: Monitor, hub: OutputHub, service: UserMqttService, pump: MqttPump,
              outbox: Outbox, url: str) -> bool:
        """Stream the day; True when stopped early."""
        opts = self.options
        wearer = WearerConfig(hours=opts.hours, seed=opts.seed, start=self.sim_now)
        # about five blocks per wall second: smooth pacing, and whole seconds for the rollup
        chunk_s = float(min(60.0, max(1.0, round(opts.speed * BLOCK_WALL_S))))
        start = self.sim_now
        wall0 = time.monotonic()
        for index, blocks in enumerate(iter_blocks(wearer, chunk_s=chunk_s)):
            if self.stop.is_set():
                return True
            with self._lock:
                out = monitor.push([b for b in blocks.values() if len(b)])
            block_end = min(start + (index + 1) * chunk_s, wearer.end)
            self._deliver(hub, out, block_end)
            self.sim_now = block_end
            target = wall0 + (block_end - start) / opts.speed
            if opts.duration is not None and time.monotonic() - wall0 >= opts.duration:
                return True
            if self.stop.wait(max(0.0, target - time.monotonic())):
                return True
            self.view.show(self._snapshot(start, wearer.end, wall0, service, pump, outbox, url))
        self.view.show(self._snapshot(start, wearer.end, wall0, service, pump, outbox, url), force=True)
        return False

    def _deliver(self, hub: OutputHub, out: MonitorOutput, now: float) -> None:
        frames = out.frames
        complete = float(frames.t[-1]) + FRAME_S if len(frames) else now
        hub.process(frames.t, frames.angles, frames.posture, frames.events, out.alerts,
                    now=min(complete, now) if len(frames) else now)
        self._tracker.update(out)

    def _snapshot(self, start: float, end: float, wall0: float, service: UserMqttService,
                  pump: MqttPump, outbox: Outbox, url: str) -> DemoSnapshot:
        tr = self._tracker
        elapsed = max(time.monotonic() - wall0, 1e-6)
        link = service.link
        return DemoSnapshot(
            sim_ts=self.sim_now, sim_start=start, sim_end=end, speed_target=self.options.speed,
            speed_actual=(self.sim_now - start) / elapsed, posture=tr.posture.label,
            posture_since=tr.since, angles=dict(tr.angles), open_episodes=list(tr.open.values()),
            last_alerts=list(tr.alerts), episodes_by_kind=dict(tr.episodes),
            alerts_total=tr.alerts_total, sitting_s=tr.sitting_s, broker=url,
            connected=link.connected, protocol=f"MQTT {'5' if link.protocol_version == 5 else '3.1.1'}",
            published=pump.published, pending=outbox.pending(MQTT),
        )

    def _report(self, store: SqliteStore, result: DemoResult) -> None:
        from posturewatch.analytics.report import write_report
        from posturewatch.app.report_data import ReportDataError, load_store

        store_dir = Path(self.options.data_dir)
        try:
            data = load_store(store_dir, self.config.user, result.day, self.config.alerts.timezone)
        except ReportDataError as exc:
            self.view.message(f"no report: {exc}")
            return
        files = write_report(data, store_dir / "reports", self.options.chain_minutes)
        result.report_html, result.report_png = files.html, files.png


def summary_lines(result: DemoResult, zone) -> list[str]:
    """The closing summary the command prints."""
    span = (result.sim_reached - result.sim_start) / 3600.0
    lines = [
        f"simulated {span:.2f} h ({datetime.fromtimestamp(result.sim_start, zone):%H:%M}–"
        f"{datetime.fromtimestamp(result.sim_reached, zone):%H:%M})"
        + (", stopped early" if result.interrupted else ""),
        "episodes: " + (", ".join(f"{k} {n}" for k, n in sorted(result.episodes.items())) or "none")
        + f"; alerts: {result.alerts}",
        f"MQTT: {result.published} messages published to {result.broker_url}"
        + (" (broker speaks 3.1.1 only: fell back from v5)" if result.fell_back else "")
        + (f"; {result.undelivered} still queued in the outbox for next time" if result.undelivered else ""),
    ]
    if result.report_html is not None:
        lines.append(f"report: {result.report_html}")
        lines.append(f"report: {result.report_png}")
    return lines


def validate_section(section: Mapping[str, object]) -> dict[str, object]:
    """The optional ``[demo]`` config table: hours, speed, seed, mqtt_url, data_dir."""
    allowed = {"hours": (int, float), "speed": (int, float), "seed": (int,), "mqtt_url": (str,),
               "data_dir": (str,)}
    out = {}
    for key, value in section.items():
        if key not in allowed:
            raise ValueError(f"[demo] unknown key {key!r}; allowed: {', '.join(allowed)}")
        if isinstance(value, bool) or not isinstance(value, allowed[key]):
            raise ValueError(f"[demo] {key} has the wrong type: {value!r}")
        out[key] = value
    return out
