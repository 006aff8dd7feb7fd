"""The TOML configuration file: parsed once into typed sections, with one error class.

```toml
user = "alice"                      # MQTT topic / database tag
[mounting.thigh]                    # per location; the documented defaults otherwise
superior = "-x"
anterior = "z"
[episodes]                          # analytics.episodes.EpisodeSettings fields
tilt_enter = -15.0
[posture]                           # analytics.posture.PostureSettings scalar fields
sitting_thigh = 45.0
[alerts]                            # alerts.settings.AlertSettings (see its docstring)
daily_cap = 12
```

Every section becomes a typed settings object here — ``[mounting]``, ``[posture]``,
``[episodes]``, ``[alerts]``, ``[ble]`` with ``[[sensors]]`` (``ble``), ``[mqtt]`` (``mqtt`` and
``outputs``), ``[influx]``, ``[store]``, ``[archive]``, ``[demo]`` and ``[web]`` — and every problem is
a ``ConfigError`` naming the key. A typo must never silently fall back to a default.
``Config.paths`` says where this user's store, outbox and calibration live (``runtime.paths``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posturewatch.alerts.mqtt.link import MqttSettings
from posturewatch.alerts.mqtt.payloads import Topics
from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.episodes import EpisodeSettings
from posturewatch.analytics.nonwear import NonWearSettings
from posturewatch.analytics.pipeline import PipelineSettings
from posturewatch.analytics.posture import PostureSettings
from posturewatch.analytics.sleep import SleepSettings
from posturewatch.ingest.archive import COMPRESSIONS
from posturewatch.ingest.ble import config as ble_config
from posturewatch.ingest.mounting import DEFAULT_MOUNTING, axis_vector
from posturewatch.ingest.records import LOCATIONS
from posturewatch.runtime.paths import UserPaths
from posturewatch.store.influx import InfluxSettings

PASS_THROUGH = ("mqtt", "influx", "ble", "sensors", "store", "archive", "adapter", "calibration", "demo",
                "web")
_SIMPLE_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "str | None": str}
_DEMO_KEYS = {"hours": (int, float), "speed": (int, float), "seed": (int,), "mqtt_url": (str,),
              "data_dir": (str,)}


class ConfigError(ValueError):
    """The configuration file is wrong; the message says where."""


@dataclass(frozen=True)
class StoreSettings:
    """``[store]``: where this user's files live and how hard the outbox syncs."""

    dir: Path | None = None  # None: the user's folder under the data root
    sqlite: bool = True
    outbox_max_rows: int = 1_000_000
    synchronous: str = "NORMAL"


@dataclass(frozen=True)
class ArchiveSettings:
    """``[archive]``: the daemon keeps every received sample, one Parquet file per local day
    (in ``[alerts] timezone``), in the schema of docs/archive-format.md."""

    enabled: bool = True
    dir: Path | None = None  # None: archive/ in the user's folder
    row_group_s: float = 60.0  # data seconds per row group: what a crash can lose at most
    compression: str = "zstd"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.row_group_s) and self.row_group_s > 0):
            raise ValueError(f"row_group_s must be a positive number of seconds, got {self.row_group_s!r}")
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}, "
                             f"got {self.compression!r}")


@dataclass(frozen=True)
class OutputOptions:
    """The ``[mqtt]`` keys that are ours rather than the broker connection's."""

    prefix: str = "posturewatch"
    home_assistant: bool = True
    discovery_prefix: str = "homeassistant"
    status_interval_s: float = 30.0
    # central deployments: after each (re)connect, publish from the outbox only once a sink
    # worker answered (a restarted broker has lost the sinks' shared subscriptions)
    wait_for_sink: bool = False


@dataclass(frozen=True)
class WebSettings:
    """``[web]``: the `posturewatch web` server (address, path behind a proxy, cookie secret,
    accounts file, optional TLS). ``None`` paths mean files under the data root."""

    host: str = "127.0.0.1"
    port: int = 8080
    base_path: str = ""  # e.g. "/posture" when a reverse proxy serves the app there
    secret: str | None = None  # signs session cookies; else secret_file, else a generated file
    secret_file: str | None = None
    accounts: str | None = None  # SQLite accounts file (default <data root>/web-accounts.db)
    certfile: str | None = None
    keyfile: str | None = None
    secure_cookies: bool = False  # set behind an HTTPS proxy (implied by certfile)
    session_days: float = 14.0

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be 1–65535, got {self.port}")
        if self.base_path and (not self.base_path.startswith("/") or self.base_path.endswith("/")):
            raise ValueError(f"base_path must look like \"/posture\" (or be empty), got {self.base_path!r}")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("certfile and keyfile go together")
        if not (math.isfinite(self.session_days) and self.session_days > 0):
            raise ValueError(f"session_days must be > 0, got {self.session_days!r}")


@dataclass
class Config:
    user: str = "default"
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    sections: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    ble: ble_config.DaemonConfig | None = None
    mqtt: MqttSettings | None = None
    outputs: OutputOptions = field(default_factory=OutputOptions)
    influx: InfluxSettings | None = None
    store: StoreSettings = field(default_factory=StoreSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    demo: dict[str, Any] = field(default_factory=dict)
    web: WebSettings = field(default_factory=WebSettings)

    @property
    def paths(self) -> UserPaths:
        """This user's store, outbox, calibration and reports."""
        return UserPaths.of(self.user, self.store.dir)

    @property
    def archive_dir(self) -> Path:
        """Where the daemon's daily archive files go: ``[archive] dir`` or the user's archive/."""
        return self.archive.dir or self.paths.archive

    def mountings(self) -> dict[str, dict[str, str]]:
        """Declared mounting per location, as stored with a calibration."""
        return {loc: {k: v for k, v in zip(("superior", "anterior"), axes, strict=True) if v}
                for loc, axes in self.pipeline.mountings.items()}


def _scalars(obj, mapping: dict, where: str):
    if not isinstance(mapping, dict):
        raise ConfigError(f"[{where}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(obj)}
    changes = {}
    for key, value in mapping.items():
        current = getattr(obj, key, None)
        if key not in fields or not isinstance(current, int | float) or isinstance(current, bool):
            allowed = ", ".join(k for k, f in fields.items() if isinstance(getattr(obj, k), int | float))
            raise ConfigError(f"[{where}] unknown key {key!r}; allowed: {allowed}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"[{where}] {key} must be a finite number, got {value!r}")
        if key.endswith("_s") and value <= 0:
            raise ConfigError(f"[{where}] {key} is a duration and must be > 0, got {value!r}")
        changes[key] = float(value)
    return dataclasses.replace(obj, **changes)


def _mountings(mapping: dict) -> dict[str, tuple[str | None, str | None]]:
    if not isinstance(mapping, dict):
        raise ConfigError("[mounting] must be a table of locations, e.g. [mounting.thigh]")
    out = {}
    for loc, axes in mapping.items():
        if loc not in LOCATIONS:
            raise ConfigError(f"[mounting] unknown location {loc!r}; expected one of {', '.join(LOCATIONS)}")
        if not isinstance(axes, dict) or set(axes) - {"superior", "anterior"}:
            raise ConfigError(f"[mounting.{loc}] takes only 'superior' and 'anterior' axis names")
        sup, ant = axes.get("superior"), axes.get("anterior")
        if not all(v is None or isinstance(v, str) for v in (sup, ant)):
            raise ConfigError(f"[mounting.{loc}] axes are names like \"x\" or \"-z\", got {sup!r}, {ant!r}")
        try:
            s = axis_vector(sup or DEFAULT_MOUNTING[loc][0])
            a = axis_vector(ant or DEFAULT_MOUNTING[loc][1])
        except ValueError as exc:
            raise ConfigError(f"[mounting.{loc}] {exc}") from None
        if abs(float(s @ a)) > 0.5:
            raise ConfigError(f"[mounting.{loc}] superior and anterior must be different axes")
        out[loc] = (sup, ant)
    return out


def from_mapping(data: dict[str, Any], path: Path | None = None) -> Config:
    """Build a Config from a parsed TOML mapping."""
    known = {"user", "mounting", "episodes", "posture", "nonwear", "sleep", "alerts", *PASS_THROUGH}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown section(s) {sorted(unknown)}; known: {sorted(known)}")
    user = data.get("user", "default")
    if not isinstance(user, str) or not user or any(c in user for c in "/+#"):
        raise ConfigError(f"user must be a non-empty name without '/', '+' or '#', got {user!r}")
    pipeline = PipelineSettings(
        posture=_scalars(PostureSettings(), data.get("posture", {}), "posture"),
        episodes=_scalars(EpisodeSettings(), data.get("episodes", {}), "episodes"),
        mountings=_mountings(data.get("mounting", {})),
        nonwear=_scalars(NonWearSettings(), data.get("nonwear", {}), "nonwear"),
        sleep=_scalars(SleepSettings(), data.get("sleep", {}), "sleep"),
    )
    try:
        alerts = AlertSettings.from_mapping(data.get("alerts", {}))
    except ValueError as exc:
        raise ConfigError(f"[alerts] {exc}") from None
    pipeline.timezone = alerts.timezone  # nights in bed are told by the wearer's local time
    sections = {k: data[k] for k in PASS_THROUGH if k in data}
    config = Config(user, pipeline, alerts, sections, path)
    _output_sections(config, sections)
    return config


# ---------------------------------------------------------------------------- output sections
def _check(value: object, kind: type, where: str) -> object:
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        # TOML has nan and inf literals; no timeout, interval or backoff means anything with them
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


def _output_sections(config: Config, sections: dict[str, Any]) -> None:
    """[ble]/[[sensors]], [mqtt], [influx], [store], [archive] and [demo] into their typed settings."""
    source = str(config.path or "config")
    if "sensors" in sections or "ble" in sections:
        try:
            config.ble = ble_config.parse_config(sections, source=source)
        except ble_config.ConfigError as exc:
            raise ConfigError(str(exc)) from None
        mountings = dict(config.pipeline.mountings)
        for sensor in config.ble.sensors:
            axes = (sensor.mounting.get("superior"), sensor.mounting.get("anterior"))
            if sensor.mounting and mountings.get(sensor.location, axes) != axes:
                raise ConfigError(f"{sensor.location} mounting differs between [[sensors]] "
                                  f"and [mounting.{sensor.location}]; declare it once")
            if sensor.mounting:
                mountings[sensor.location] = axes
        config.pipeline = dataclasses.replace(config.pipeline, mountings=mountings)
    if "mqtt" in sections:
        raw = sections["mqtt"]
        if not isinstance(raw, dict):
            raise ConfigError("[mqtt] must be a table")
        raw = dict(raw)
        own = {f.name: _check(raw.pop(f.name), _SIMPLE_TYPES[str(f.type)], f"[mqtt] {f.name}")
               for f in dataclasses.fields(OutputOptions) if f.name in raw}
        password = os.environ.get("POSTUREWATCH_MQTT_PASSWORD")
        config.mqtt = settings_from(MqttSettings, raw, "mqtt", client_id=f"posturewatch-daemon-{config.user}",
                                    **({"password": password} if password else {}))
        config.outputs = OutputOptions(**own)
        try:
            Topics(config.user, config.outputs.prefix)
        except ValueError as exc:
            raise ConfigError(f"[mqtt] prefix: {exc}") from None
        interval = config.outputs.status_interval_s
        if not (math.isfinite(interval) and interval > 0):
            raise ConfigError(f"[mqtt] status_interval_s must be a positive finite number, got {interval!r}")
    if "influx" in sections:
        token = os.environ.get("POSTUREWATCH_INFLUX_TOKEN")
        config.influx = settings_from(InfluxSettings, sections["influx"], "influx",
                                      **({"token": token} if token else {}))
    store_raw = sections.get("store", {})
    store_dir = None
    if isinstance(store_raw, dict) and "dir" in store_raw:
        store_raw = dict(store_raw)
        store_dir = Path(str(_check(store_raw.pop("dir"), str, "[store] dir"))).expanduser()
    config.store = settings_from(StoreSettings, store_raw, "store", dir=store_dir,
                                 sqlite=config.influx is None)
    if config.store.synchronous.upper() not in ("FULL", "NORMAL"):
        raise ConfigError(f"[store] synchronous must be \"FULL\" or \"NORMAL\", "
                          f"got {config.store.synchronous!r}")
    config.archive = _archive_section(sections.get("archive", {}))
    config.demo = _demo_section(sections.get("demo", {}))
    config.web = settings_from(WebSettings, sections.get("web", {}), "web")


def _archive_section(section: object) -> ArchiveSettings:
    archive_dir = None
    if isinstance(section, dict) and "dir" in section:
        section = dict(section)
        archive_dir = Path(str(_check(section.pop("dir"), str, "[archive] dir"))).expanduser()
    return settings_from(ArchiveSettings, section, "archive", dir=archive_dir)


def _demo_section(section: object) -> dict[str, Any]:
    """The optional ``[demo]`` table: hours, speed, seed, mqtt_url, data_dir."""
    if not isinstance(section, dict):
        raise ConfigError("[demo] must be a table")
    out = {}
    for key, value in section.items():
        if key not in _DEMO_KEYS:
            raise ConfigError(f"[demo] unknown key {key!r}; allowed: {', '.join(_DEMO_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, _DEMO_KEYS[key]):
            raise ConfigError(f"[demo] {key} has the wrong type: {value!r}")
        out[key] = value
    return out


def load(path: str | Path | None) -> Config:
    """Read a TOML config file; None gives the documented defaults."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    try:
        return from_mapping(data, p)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
