"""The TOML configuration file: one place that turns it into each part's settings.

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

Sections other parts own (``mqtt``, ``influx``, ``ble``, ``sensors``, ``store``) are passed through as
plain mappings for those parts to validate. Unknown keys and wrong types are errors that name
the key: a typo must never silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.episodes import EpisodeSettings
from posturewatch.analytics.pipeline import PipelineSettings
from posturewatch.analytics.posture import PostureSettings
from posturewatch.ingest.mounting import DEFAULT_MOUNTING, axis_vector
from posturewatch.ingest.records import LOCATIONS

PASS_THROUGH = ("mqtt", "influx", "ble", "sensors", "store", "adapter", "calibration", "demo")


class ConfigError(ValueError):
    """The configuration file is wrong; the message says where."""


@dataclass
class Config:
    user: str = "default"
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    sections: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


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
    known = {"user", "mounting", "episodes", "posture", "alerts", *PASS_THROUGH}
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
    )
    try:
        alerts = AlertSettings.from_mapping(data.get("alerts", {}))
    except ValueError as exc:
        raise ConfigError(f"[alerts] {exc}") from None
    sections = {k: data[k] for k in PASS_THROUGH if k in data}
    return Config(user, pipeline, alerts, sections, path)


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
