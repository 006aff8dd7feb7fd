"""Turn the MQTT payloads back into InfluxDB lines (the central sink's job).

Each function validates what it reads and raises ``BadPayload`` (with a reason for the
counter) instead of writing garbage; timestamps come from the payloads, never the clock, so a
late delivery is stored at the time it happened.
"""

from __future__ import annotations

import json
import math

from posturewatch.alerts.records import Alert
from posturewatch.analytics.records import EPISODE_KINDS, Episode, Posture
from posturewatch.ingest.records import ANGLE_NAMES, LOCATIONS
from posturewatch.store.lines import (
    alert_line,
    episode_line,
    escape_tag,
    point,
    sensor_status_line,
)
from posturewatch.store.outbox import EVENT, TELEMETRY

DATA_TOPICS = ("angles", "episodes", "alerts", "status")


class BadPayload(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _obj(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadPayload("bad_json", f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadPayload("bad_json", "payload is not a JSON object")
    if body.get("v") != 1:
        raise BadPayload("bad_version", f"unsupported schema version {body.get('v')!r}")
    return body


def _number(body: dict, key: str, *, optional: bool = False) -> float | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadPayload("bad_field", f"{key!r} must be a finite number, got {value!r}")
    return float(value)


def _text(body: dict, key: str, allowed: tuple[str, ...] | None = None) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or (allowed and value not in allowed):
        raise BadPayload("bad_field", f"{key!r} must be one of {allowed}" if allowed else f"{key!r} missing")
    return value


def _ts(body: dict, key: str = "ts_ms") -> float:
    return _number(body, key) / 1000.0


def lines_for(user: str, kind: str, raw: bytes) -> tuple[list[str], int, str | None]:
    """(lines, outbox priority, record id for dedupe or None) for one message."""
    try:
        escape_tag(user)
    except ValueError as exc:
        raise BadPayload("bad_topic", f"user {user!r} cannot be stored: {exc}") from None
    body = _obj(raw)
    if kind == "angles":
        return [_angles(user, body)], TELEMETRY, None
    if kind == "episodes":
        # only finished episodes are stored (see store.hub); starts are still deduped by id
        line = _episode(user, body)
        return ([line] if body.get("end_ms") is not None else []), EVENT, _text(body, "id")
    if kind == "alerts":
        return [_alert(user, body)], EVENT, _text(body, "id")
    if kind == "status":
        return _status(user, body), TELEMETRY, None
    raise BadPayload("bad_topic", f"no storage for topic kind {kind!r}")


def _angles(user: str, body: dict) -> str:
    posture = _text(body, "posture", tuple(p.label for p in Posture))
    angles = body.get("angles")
    if not isinstance(angles, dict):
        raise BadPayload("bad_field", "'angles' must be an object")
    # names become InfluxDB field keys: only the known angles, never what a client makes up
    unknown = sorted(set(angles) - set(ANGLE_NAMES))
    if unknown:
        raise BadPayload("bad_field", f"unknown angle name(s) {unknown}; known: {ANGLE_NAMES}")
    fields: dict[str, float | int] = {}
    for name, value in sorted(angles.items()):
        if value is None:
            continue
        fields[name] = _number(angles, name)
    fields["posture_code"] = int(Posture.from_label(posture))
    return point("angles", {"user": user, "posture": posture}, fields, _ts(body))


def _episode(user: str, body: dict) -> str:
    episode = Episode(
        kind=_text(body, "kind", EPISODE_KINDS),
        start=_ts(body, "start_ms"),
        confirmed=_ts(body, "confirmed_ms"),
        end=None if body.get("end_ms") is None else _ts(body, "end_ms"),
        peak=math.nan if body.get("peak") is None else _number(body, "peak"),
        mean=math.nan if body.get("mean") is None else _number(body, "mean"),
    )
    return episode_line(user, episode, now=_ts(body))


def _alert(user: str, body: dict) -> str:
    alert = Alert(
        id=_text(body, "id"),
        kind=_text(body, "kind", EPISODE_KINDS),
        title=str(body.get("title", "")),
        message=str(body.get("message", "")),
        severity=_text(body, "severity"),
        ts=_ts(body),
        episode_id=_text(body, "episode_id"),
        episode_start=_ts(body, "episode_start_ms"),
        repeat=int(_number(body, "repeat")),
    )
    return alert_line(user, alert)


def _status(user: str, body: dict) -> list[str]:
    ts = _ts(body)
    state = _text(body, "state", ("online", "offline"))
    lines = [sensor_status_line(user, "daemon", ts, connected=state == "online")]
    sensors = body.get("sensors", {})
    if not isinstance(sensors, dict):
        raise BadPayload("bad_field", "'sensors' must be an object")
    unknown = sorted(set(sensors) - set(LOCATIONS))
    if unknown:  # a location becomes a tag value: only the known ones
        raise BadPayload("bad_field", f"unknown sensor location(s) {unknown}; known: {LOCATIONS}")
    for location, info in sorted(sensors.items()):
        if not isinstance(info, dict):
            raise BadPayload("bad_field", f"sensor {location!r} must be an object")
        lines.append(sensor_status_line(
            user, location, ts,
            connected=bool(info.get("connected", False)),
            battery_pct=_number(info, "battery_pct", optional=True),
            rate_hz=_number(info, "rate_hz", optional=True),
            loss_pct=_number(info, "loss_pct", optional=True),
        ))
    return lines
