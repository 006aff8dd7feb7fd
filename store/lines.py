"""InfluxDB line protocol for the schema of docs/architecture.md §4 (numeric fields only, ms timestamps).

A record's identity is its series (measurement + tags) plus timestamp, so writing the same record
again overwrites it: an episode is stamped with its start (its end, once known, replaces the
provisional row written at confirmation), an alert with its issue time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from posturewatch.alerts.records import Alert
from posturewatch.analytics.records import Episode, Posture
from posturewatch.store.rollup import Seconds

SEVERITY_CODES = {"info": 0, "warning": 1, "critical": 2}


def _escape(value: str, special: str, what: str) -> str:
    if value == "":
        raise ValueError(f"{what} must not be empty")
    if "\n" in value or "\r" in value:
        # line protocol has no escape for a line break: it would end the line and start another
        raise ValueError(f"{what} {value!r} contains a line break")
    out = value.replace("\\", "\\\\")
    for char in special:
        out = out.replace(char, "\\" + char)
    return out


def escape_tag(value: str) -> str:
    """Escape a tag key/value (commas, spaces, equals signs, backslashes); ValueError if it is
    empty or holds a line break, which line protocol cannot carry."""
    return _escape(value, ", =", "tag key/value")


def escape_field_key(name: str) -> str:
    """Escape a field key like a tag key (same rules, same refusals)."""
    return _escape(name, ", =", "field key")


def escape_measurement(name: str) -> str:
    """Escape a measurement name (commas and spaces; an equals sign is literal there)."""
    return _escape(name, ", ", "measurement")


def _ms(ts: float) -> int:
    return round(ts * 1000)


def _fields(values: Mapping[str, float | int | bool | None]) -> str:
    parts = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            parts.append(f"{escape_field_key(name)}={int(value)}i")
        elif isinstance(value, int):
            parts.append(f"{escape_field_key(name)}={value}i")
        elif math.isfinite(value):
            parts.append(f"{escape_field_key(name)}={float(value)!r}")
    if not parts:
        raise ValueError("a point needs at least one finite numeric field")
    return ",".join(parts)


def point(measurement: str, tags: Mapping[str, str], fields: Mapping, ts: float) -> str:
    """One line: tags sorted by key, non-finite / None fields left out."""
    tag_text = "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()))
    return f"{escape_measurement(measurement)}{tag_text} {_fields(fields)} {_ms(ts)}"


def angle_lines(user: str, seconds: Seconds) -> list[str]:
    """``angles`` points, one per row of ``seconds`` (built column-wise with numpy strings)."""
    n = len(seconds)
    if n == 0:
        return []
    fields = np.full(n, "", dtype=object).astype(np.str_)
    for name in sorted(seconds.angles):
        values = np.asarray(seconds.angles[name], dtype=np.float64)
        finite = np.isfinite(values)
        text = np.strings.mod("%.3f", np.where(finite, values, 0.0))
        part = np.strings.add(f"{escape_field_key(name)}=", text)
        part = np.where(finite, part, "")
        joined = np.strings.add(np.strings.add(fields, ","), part)
        fields = np.where(fields == "", part, np.where(part == "", fields, joined))
    codes = np.asarray(seconds.posture, dtype=np.int64)
    code_part = np.strings.add(np.strings.add("posture_code=", codes.astype(np.str_)), "i")
    fields = np.where(fields == "", code_part, np.strings.add(np.strings.add(fields, ","), code_part))
    labels = np.array([p.label for p in Posture])[codes]
    head = np.strings.add(np.strings.add("angles,posture=", labels), f",user={escape_tag(user)} ")
    stamps = (np.asarray(seconds.t, dtype=np.int64) * 1000).astype(np.str_)
    lines = np.strings.add(np.strings.add(np.strings.add(head, fields), " "), stamps)
    return lines.tolist()


def episode_line(user: str, episode: Episode, now: float | None = None) -> str:
    """``episodes`` point stamped at the episode start (open ones: their age at ``now``).

    The hub and the sink store finished episodes only, one row each.
    """
    if episode.end is not None:
        duration = episode.end - episode.start
    else:
        duration = (now if now is not None else episode.confirmed) - episode.start
    fields = {
        "duration_s": duration,
        "peak": episode.peak,
        "mean": episode.mean,
        "confirm_delay_s": episode.confirmed - episode.start,
        "open": episode.end is None,
    }
    return point("episodes", {"user": user, "kind": episode.kind}, fields, episode.start)


def alert_line(user: str, alert: Alert) -> str:
    fields = {
        "severity_code": SEVERITY_CODES.get(alert.severity, 0),
        "repeat": alert.repeat,
        "delay_s": alert.ts - alert.episode_start,
        "episode_start_ms": _ms(alert.episode_start),
    }
    return point("alerts", {"user": user, "kind": alert.kind}, fields, alert.ts)


def sensor_status_line(
    user: str,
    location: str,
    ts: float,
    *,
    connected: bool,
    battery_pct: float | None = None,
    rate_hz: float | None = None,
    loss_pct: float | None = None,
) -> str:
    fields = {
        "connected": connected,
        "battery_pct": _float(battery_pct),
        "rate_hz": _float(rate_hz),
        "loss_pct": _float(loss_pct),
    }
    return point("sensor_status", {"user": user, "location": location}, fields, ts)


def daily_summary_line(user: str, day_start: float, values: Mapping[str, float]) -> str:
    """``daily_summary`` point stamped at local midnight of the day it summarises."""
    return point("daily_summary", {"user": user}, {k: _float(v) for k, v in values.items()}, day_start)


def _float(value: float | None) -> float | None:
    # a field's type is fixed per series in InfluxDB: an int here would conflict with floats later
    return None if value is None else float(value)
