"""The TOML configuration file: parsed once into typed sections, with one error class.

```toml
user = "alice"                      # MQTT topic / database tag
[mounting.thigh]                    # per location; DESIGN §3 defaults otherwise
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
``outputs``), ``[influx]``, ``[store]`` and ``[demo]`` — and every problem is a ``ConfigError``
naming the key. A typo must never silently fall back to a default. ``Config.paths`` says where
this user's store, outbox and calibration live (``runtime.paths``).
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
from posturewatch.ingest.ble import config as ble_config
from posturewatch.ingest.mounting import DEFAULT_MOUNTING, axis_vector
from posturewatch.ingest.records import LOCATIONS
from posturewatch.runtime.paths import UserPaths
from posturewatch.store.influx import InfluxSettings

PASS_THROUGH = ("mqtt", "influx", "ble", "sensors", "store", "adapter", "calibration", "demo")
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
class OutputOptions:
    """The ``[mqtt]`` keys that are ours rather than the broker connection's."""

    prefix: str = "posturewatch"
    home_assistant: bool = True
    discovery_prefix: str = "homeassistant"
    status_interval_s: float = 30.0


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
    demo: dict[str, Any] = field(default_factory=dict)

    @property
    def paths(self) -> UserPaths:
        """This user's store, outbox, calibration and reports."""
        return UserPaths.of(self.user, self.store.dir)

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
    known = {"user", "mounting", "episodes", "posture", "nonwear", "alerts", *PASS_THROUGH}
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
    """[ble]/[[sensors]], [mqtt], [influx], [store] and [demo] into their typed settings."""
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
    config.demo = _demo_section(sections.get("demo", {}))


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
