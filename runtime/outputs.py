"""The live output set: outbox, embedded store, hub, MQTT service and pumps, built in one order.

``LiveOutputs.open`` creates the durable outbox, the embedded SQLite store (unless InfluxDB is
the store), the ``OutputHub`` that fans each monitor step out to them, the wearer's MQTT service
(retained status with LWT, Home Assistant discovery, commands handed to the session's loop) and
the pumps that drain the outbox to MQTT and InfluxDB. ``close`` drains and closes them in reverse.
The status is published on change and every ``status_interval_s``; it carries each sensor's state,
the MQTT connection (``connected``/``connecting``/``down``) and the outbox depth.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from posturewatch.alerts.monitor import MonitorStep
from posturewatch.alerts.mqtt.commands import CommandService
from posturewatch.alerts.mqtt.link import MqttSettings
from posturewatch.alerts.mqtt.payloads import Topics
from posturewatch.alerts.mqtt.service import UserMqttService
from posturewatch.runtime.config import Config
from posturewatch.runtime.paths import UserPaths
from posturewatch.store.hub import INFLUX, MQTT, OutputHub
from posturewatch.store.influx import InfluxWriter
from posturewatch.store.lines import sensor_status_line
from posturewatch.store.outbox import TELEMETRY, Outbox
from posturewatch.store.policy_state import PolicySaver, PolicyStateStore
from posturewatch.store.pumps import InfluxPump, MqttPump
from posturewatch.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

STATUS_KEYS = ("state", "connected", "family", "address", "battery_pct", "rate_hz", "nominal_rate_hz",
               "samples", "lost", "loss_pct", "duplicates", "gaps", "gap_s", "bad_packets",
               "connections", "disconnects", "connect_failures", "stalls", "late_samples",
               "clock_drift_ppm", "last_error", "slips", "mounting", "mounting_changed", "mounting_note")


class OutputsError(RuntimeError):
    """An output cannot be opened (a folder that cannot be written, a store that is locked)."""


@dataclass
class LiveSettings:
    """What the live outputs need; ``from_config`` reads it from the typed config."""

    paths: UserPaths
    mqtt: MqttSettings | None = None
    influx: object | None = None  # store.influx.InfluxSettings
    sqlite: bool = True
    outbox_max_rows: int = 1_000_000
    synchronous: str = "NORMAL"
    pump_window: int = 20
    drain_s: float = 10.0

    @classmethod
    def from_config(cls, config: Config, **overrides) -> LiveSettings:
        s = config.store
        values = dict(paths=config.paths, mqtt=config.mqtt, influx=config.influx, sqlite=s.sqlite,
                      outbox_max_rows=s.outbox_max_rows, synchronous=s.synchronous)
        values.update(overrides)
        return cls(**values)


class LiveOutputs:
    """Hub + outbox + store + MQTT/InfluxDB pumps + commands; see the module docstring."""

    def __init__(self, settings: LiveSettings, config: Config) -> None:
        self.settings = settings
        self.config = config
        self.topics = Topics(config.user, config.outputs.prefix)
        self.outbox: Outbox | None = None
        self.sqlite: SqliteStore | None = None
        self.hub: OutputHub | None = None
        self.service: UserMqttService | None = None
        self.commands: CommandService | None = None
        self.pumps: list[MqttPump | InfluxPump] = []
        self.mqtt_pump: MqttPump | None = None
        self.policy_saver: PolicySaver | None = None
        self._policy_frozen = False
        self.status_published = 0
        self._status_sent_at = float("-inf")
        self._status_signature: tuple = ()

    # ------------------------------------------------------------------ lifecycle
    def open(self, session) -> None:
        s = self.settings
        root = s.paths.root
        try:
            root.mkdir(parents=True, exist_ok=True)
            self.outbox = Outbox(s.paths.outbox, max_rows=s.outbox_max_rows, synchronous=s.synchronous)
            if s.sqlite:
                self.sqlite = SqliteStore(s.paths.store)
            # the alert state sits next to the outbox: the daemon's durable state, in one file
            # whether or not the embedded store is on (with InfluxDB there is no store.db)
            self.policy_saver = PolicySaver(PolicyStateStore(s.paths.outbox), self.config.user,
                                            session.policy)
        except (OSError, sqlite3.Error) as exc:
            raise OutputsError(f"cannot use {root} for the store and outbox: {exc}") from None
        self.hub = OutputHub(self.config.user, self.outbox, prefix=self.config.outputs.prefix,
                             mqtt=s.mqtt is not None, influx=s.influx is not None,
                             full_rate=bool(s.influx and s.influx.full_rate), sqlite=self.sqlite)
        if s.mqtt is not None:
            self.commands = CommandService(session.policy, clock=session.source.clock,
                                           calibrate=session.calibrate_now)
            self.service = UserMqttService(s.mqtt, self.topics, self.commands, clock=session.source.clock,
                                           home_assistant=self.config.outputs.home_assistant,
                                           discovery_prefix=self.config.outputs.discovery_prefix,
                                           dispatch=session.dispatch,
                                           wait_for_sink=self.config.outputs.wait_for_sink)
            self.mqtt_pump = MqttPump(self.outbox, self.service.link, window=s.pump_window,
                                      gate=self.service.gate)
            self.pumps.append(self.mqtt_pump)
        if s.influx is not None:
            writer = InfluxWriter(s.influx)
            self.pumps.append(InfluxPump(self.outbox, writer, batch_lines=s.influx.batch_lines))
        for pump in self.pumps:
            pump.start()
        if self.service is not None:
            self.service.start()

    def write(self, step: MonitorStep, now: float) -> None:
        if self.hub is not None and step:
            self.hub.process(step, now=now)
        if not self._policy_frozen:
            self.save_policy(now)

    # ------------------------------------------------------------------ alert state
    def restore_policy(self) -> bool:
        """The alert state saved by the last run, into the session's policy (False: none)."""
        return self.policy_saver is not None and self.policy_saver.restore()

    def save_policy(self, now: float, final: bool = False) -> None:
        """Saved after the step that changed it (after its outbox writes: a kill in between
        can only repeat an alert id, never lose one); ``final`` saves the state before the
        monitor closes its open episodes, and nothing after it, so they go on after a restart."""
        if self.policy_saver is not None:
            self.policy_saver.maybe_save(now, force=final)
        self._policy_frozen = self._policy_frozen or final

    def close(self, session) -> None:
        if self.hub is None:
            return
        self.hub.finish()
        for pump in self.pumps:
            if pump is not self.mqtt_pump or self.service.link.connected:
                pump.wait_drained(self.settings.drain_s)
            pump.stop()
        if self.service is not None:
            self.service.close()
        if self.sqlite is not None:
            self.sqlite.close()
        if self.policy_saver is not None:
            self.policy_saver.store.close()
        self.outbox.close()
        self.hub = None

    # ------------------------------------------------------------------ status
    def state(self) -> dict[str, object]:
        link = self.service.link if self.service is not None else None
        return {
            "mqtt": link.state if link is not None else "off",
            "outbox": self.outbox.pending(MQTT) + self.outbox.pending(INFLUX) if self.outbox else 0,
        }

    def publish_status(self, session, force: bool = False) -> None:
        if self.hub is None:
            return
        status = session.status()
        sensors = {loc: {k: s.get(k) for k in STATUS_KEYS} for loc, s in status["sensors"].items()}
        extra = {k: v for k, v in status.items() if k != "sensors"}
        reminders = extra.get("reminders") or {}
        # a reminder sent changes the budget the Now page shows: publish it then, not at the interval
        signature = (tuple((loc, s["state"], s["battery_pct"] is None) for loc, s in sensors.items()),
                     extra.get("mqtt"), reminders.get("day"), reminders.get("used"))
        now = session.source.clock()
        due = now - self._status_sent_at >= self.config.outputs.status_interval_s
        if not (force or due or signature != self._status_signature):
            return
        self._status_sent_at, self._status_signature = now, signature
        self.status_published += 1
        if self.service is not None:
            self.service.publish_status(sensors, **extra)
        if self.hub.influx:
            lines = [sensor_status_line(self.config.user, loc, now, connected=bool(s["connected"]),
                                        battery_pct=s["battery_pct"], rate_hz=s["rate_hz"],
                                        loss_pct=s["loss_pct"]) for loc, s in sensors.items()]
            if lines:
                self.outbox.put(INFLUX, "\n".join(lines), priority=TELEMETRY)
        if self.sqlite is not None:
            for loc, s in sensors.items():
                self.sqlite.write_sensor_status(self.config.user, loc, now, connected=bool(s["connected"]),
                                                battery_pct=s["battery_pct"], rate_hz=s["rate_hz"],
                                                loss_pct=s["loss_pct"])


def ensure_out_dir(path: Path) -> Path:
    """A result folder that exists and is writable, or one clear OutputsError (checked before
    any work: a replay must not analyse for an hour and then fail to write)."""
    if path.exists() and not path.is_dir():
        raise OutputsError(f"--out {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".posturewatch-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise OutputsError(f"--out {path} cannot be written: {exc.strerror or exc}") from None
    return path
