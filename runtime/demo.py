"""The demo: the live session fed by the simulated wearer, in accelerated time, with a live view.

It is the daemon with another source: ``SimulatedSource`` (synthetic sensors, paced to ``speed``
× real time) → the session's monitor → ``LiveOutputs`` (durable outbox, embedded SQLite store,
MQTT pump and the wearer's MQTT service with its retained status, LWT, Home Assistant discovery
and command topics) → an MQTT broker (the embedded amqtt one, or ``--mqtt-url``).

Time: the sim clock is the data's clock, and every timestamp the demo publishes or stores is sim
time. A stop request (``--duration``, SIGINT, SIGTERM) ends the day early and cleanly: open
episodes are closed, the outbox is drained, the broker closed and the day's report written.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from posturewatch.alerts.monitor import MonitorStep
from posturewatch.alerts.mqtt.link import MqttSettings
from posturewatch.analytics.records import Posture
from posturewatch.app.demo_broker import EmbeddedBroker, parse_mqtt_url
from posturewatch.app.demo_view import DemoSnapshot, LiveView
from posturewatch.ingest.records import ANGLE_NAMES
from posturewatch.runtime.config import Config, ConfigError, _demo_section
from posturewatch.runtime.outputs import LiveOutputs, LiveSettings
from posturewatch.runtime.paths import UserPaths
from posturewatch.runtime.session import Session
from posturewatch.runtime.sources import SimulatedSource
from posturewatch.simulators.config import WearerConfig
from posturewatch.store.hub import MQTT

log = logging.getLogger(__name__)

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
    web: bool = True  # serve the web app (Now / Today / Trends) beside the demo

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


class Tracker:
    """What a view shows, updated from each monitor step (posture and since when, the last
    second's angles, open episodes, recent alerts; sitting time comes from the step's day)."""

    def __init__(self) -> None:
        self.posture = Posture.UNKNOWN
        self.since = math.nan
        self.angles: dict[str, float] = {}
        self.open: dict[str, tuple[str, float]] = {}
        self.episodes: Counter[str] = Counter()
        self.alerts: list[tuple[float, str, str]] = []
        self.alerts_total = 0
        self.sitting_s = 0.0

    def update(self, step: MonitorStep) -> None:
        frames = step.frames
        if len(frames):
            codes = frames.posture.astype(np.int64)
            changed = np.flatnonzero(codes != np.concatenate(([int(self.posture)], codes[:-1])))
            if len(changed):
                self.posture = Posture(int(codes[changed[-1]]))
                self.since = float(frames.t[changed[-1]])
            last = frames.t >= frames.t[-1] - 1.0
            for name in ANGLE_NAMES:
                values = frames.angles[name][last]
                values = values[np.isfinite(values)]
                self.angles[name] = float(values.mean()) if len(values) else math.nan
        if step.today is not None:
            self.sitting_s = step.today.sitting_s
        elif step.days:  # the stream's last step hands over the finished day instead
            self.sitting_s = step.days[-1].tally.sitting_s
        for event in frames.events:
            ep = event.episode
            if event.type == "start":
                self.open[ep.id] = (ep.kind, ep.start)
                self.episodes[ep.kind] += 1
            else:
                self.open.pop(ep.id, None)
        for alert in step.alerts:
            self.alerts.append((alert.ts, alert.kind, alert.title))
        self.alerts = self.alerts[-20:]
        self.alerts_total += len(step.alerts)


class _DemoView:
    """Feeds the terminal view from the session after every step."""

    def __init__(self, view: LiveView, source: SimulatedSource, outputs: LiveOutputs, url: str,
                 speed: float) -> None:
        self.view, self.source, self.outputs, self.url, self.speed = view, source, outputs, url, speed
        self.tracker = Tracker()
        self.last: DemoSnapshot | None = None

    def update(self, session: Session, step: MonitorStep) -> None:
        self.tracker.update(step)
        if not session.closing:  # the closing step's last frames may lack a sensor that ended first
            self.last = self.snapshot()
            self.view.show(self.last)

    def tick(self, session: Session) -> None:
        pass  # redrawn after every step, which comes several times a second

    def snapshot(self) -> DemoSnapshot:
        tr, link = self.tracker, self.outputs.service.link
        src = self.source
        return DemoSnapshot(
            sim_ts=src.sim_now, sim_start=src.start, sim_end=src.wearer.end, speed_target=self.speed,
            speed_actual=src.speed_actual, posture=tr.posture.label,
            posture_since=tr.since, angles=dict(tr.angles), open_episodes=list(tr.open.values()),
            last_alerts=list(tr.alerts), episodes_by_kind=dict(tr.episodes),
            alerts_total=tr.alerts_total, sitting_s=tr.sitting_s, broker=self.url,
            connected=link.connected, protocol=f"MQTT {'5' if link.protocol_version == 5 else '3.1.1'}",
            published=self.outputs.mqtt_pump.published, pending=self.outputs.outbox.pending(MQTT),
        )


class DemoRun:
    """One demo day; ``run()`` blocks until the day ends or ``stop`` is set."""

    def __init__(self, options: DemoOptions, config: Config, view: LiveView,
                 stop: threading.Event | None = None) -> None:
        options.validate()
        self.options = options
        self.config = config
        self.view = view
        self.stop = stop or threading.Event()
        self.start = options.start if options.start is not None else default_start(config)

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
        return asyncio.run(self._run())

    async def _run(self) -> DemoResult:
        opts, cfg = self.options, self.config
        settings, broker = self._mqtt_settings()
        url = f"mqtt://{settings.host}:{settings.port}"
        watch = f"mosquitto_sub -h {settings.host} -p {settings.port} -t 'posturewatch/#' -v"
        self.view.message(f"broker: {url}{' (embedded amqtt)' if broker else ''} — watch with: {watch}")
        paths = UserPaths.of(cfg.user, Path(opts.data_dir))
        outputs = LiveOutputs(LiveSettings(paths=paths, mqtt=settings, pump_window=PUMP_WINDOW,
                                           drain_s=opts.drain_s), cfg)
        source = SimulatedSource(WearerConfig(hours=opts.hours, seed=opts.seed, start=self.start),
                                 speed=opts.speed)
        web = self._start_web(settings, paths) if opts.web else None
        shown = _DemoView(self.view, source, outputs, url, opts.speed)
        session = Session(cfg, source, outputs, views=[shown])
        result = DemoResult(url, self.start, self.start, interrupted=False)
        stop = asyncio.Event()
        watcher = asyncio.create_task(self._watch_stop(stop))
        try:
            await session.run(stop, duration_s=opts.duration)
        finally:
            watcher.cancel()
            if web is not None:
                web.stop()
            if outputs.mqtt_pump is not None:
                result.published = outputs.mqtt_pump.published
                result.fell_back = outputs.service.link.fell_back
            result.undelivered = outputs.outbox.pending(MQTT) if outputs.outbox else 0
            if broker is not None:
                broker.stop()
        if shown.last is not None:
            self.view.show(shown.last, force=True)
        result.interrupted = session.stopped_early
        result.sim_reached = source.sim_now
        result.episodes = Counter(shown.tracker.episodes)
        result.alerts = shown.tracker.alerts_total
        result.day = datetime.fromtimestamp(result.sim_start, cfg.alerts.zone).date().isoformat()
        if opts.report:
            self._report(paths, result)
        return result

    def _start_web(self, mqtt: MqttSettings, paths: UserPaths):
        """The web app on a free local port, signed in as the demo wearer with a fresh password
        (printed), reading the demo's store and the demo's broker."""
        import dataclasses
        import secrets

        from posturewatch.web.accounts import Accounts
        from posturewatch.web.server import start_web

        paths.root.mkdir(parents=True, exist_ok=True)
        settings = dataclasses.replace(self.config.web, host="127.0.0.1", port=_free_port(),
                                       accounts=str(paths.root / "web-accounts.db"),
                                       secret=secrets.token_hex(32), secret_file=None)
        accounts = Accounts(settings.accounts)
        password = secrets.token_urlsafe(9)
        accounts.put(self.config.user, "wearer", password)
        try:
            config = dataclasses.replace(self.config, mqtt=mqtt,
                                         store=dataclasses.replace(self.config.store, dir=paths.root))
            server = start_web(config, settings, accounts=accounts)
        except (OSError, RuntimeError, ValueError) as exc:  # the demo goes on without it
            accounts.close()
            self.view.message(f"web app not started: {exc}")
            return None
        self.view.message(f"web app: {server.url}/ — sign in as {self.config.user!r}, password {password}")
        return server

    async def _watch_stop(self, stop: asyncio.Event) -> None:
        """A signal handler (another thread's world) sets the threading.Event; mirror it."""
        while not self.stop.is_set():
            await asyncio.sleep(0.1)
        stop.set()

    def _report(self, paths: UserPaths, result: DemoResult) -> None:
        from posturewatch.analytics.report import write_report
        from posturewatch.app.report_data import ReportDataError, load_store

        try:
            data = load_store(paths.root, self.config.user, result.day, self.config.alerts.timezone,
                              self.config.alerts.daily_cap)
        except ReportDataError as exc:
            self.view.message(f"no report: {exc}")
            return
        files = write_report(data, paths.reports, self.options.chain_minutes)
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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def validate_section(section: object) -> dict[str, object]:
    """The optional ``[demo]`` config table: hours, speed, seed, mqtt_url, data_dir."""
    try:
        return _demo_section(section)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
