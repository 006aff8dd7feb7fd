"""MQTT topics and JSON payloads of docs/architecture.md §4.

Every payload carries ``"v": 1``, ``"ts"`` (RFC 3339 UTC, ms) and ``"ts_ms"``. Ids are stable so
a redelivered message is recognisable: an episode event's ``id`` is the episode id plus the
event type, an alert's is the alert id. NaN angles are sent as ``null``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from posturewatch.alerts.records import Alert, BudgetExhausted, BudgetState
from posturewatch.analytics.records import EpisodeEvent

SCHEMA_VERSION = 1
COMMANDS = ("snooze", "calibrate", "config")


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stamp(ts: float) -> dict[str, object]:
    """The common head of every payload."""
    return {"v": SCHEMA_VERSION, "ts": rfc3339(ts), "ts_ms": round(ts * 1000)}


def encode(payload: Mapping[str, object]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 3)


# a wearer's daemon asks the central sinks whether they are subscribed, and one answers
# (``<prefix>/<user>/sink/probe`` and ``…/sink/ready``; see ``alerts.mqtt.sinkgate``)
SINK_PROBE, SINK_READY = "sink/probe", "sink/ready"


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic tree of one user under a prefix (default ``posturewatch``)."""

    user: str
    prefix: str = "posturewatch"

    def __post_init__(self) -> None:
        for part in (self.user, self.prefix):
            if not part or any(c in part for c in "+#/\0"):
                raise ValueError(f"invalid MQTT topic level {part!r}")

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.user}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def posture(self) -> str:
        return f"{self.base}/posture"

    @property
    def angles(self) -> str:
        return f"{self.base}/angles"

    @property
    def episodes(self) -> str:
        return f"{self.base}/episodes"

    @property
    def alerts(self) -> str:
        return f"{self.base}/alerts"

    @property
    def daily(self) -> str:
        return f"{self.base}/daily"

    def cmd(self, name: str) -> str:
        if name not in COMMANDS:
            raise ValueError(f"unknown command {name!r}")
        return f"{self.base}/cmd/{name}"

    @property
    def cmd_filter(self) -> str:
        return f"{self.base}/cmd/+"

    @property
    def cmd_result(self) -> str:
        return f"{self.base}/cmd/result"

    def raw(self, location: str) -> str:
        return f"{self.base}/raw/{location}"

    @property
    def sink_probe(self) -> str:
        """Asks the central sink group whether it is subscribed (see ``alerts.mqtt.sinkgate``)."""
        return f"{self.base}/{SINK_PROBE}"

    @property
    def sink_ready(self) -> str:
        """A sink worker's answer to a probe."""
        return f"{self.base}/{SINK_READY}"


def split_topic(topic: str, prefix: str = "posturewatch") -> tuple[str, str]:
    """``prefix/user/rest…`` → (user, rest); ValueError for a topic outside the tree."""
    parts = topic.split("/", 2)
    if len(parts) < 3 or parts[0] != prefix or not parts[1]:
        raise ValueError(f"topic {topic!r} is not under {prefix}/<user>/")
    return parts[1], parts[2]


def status_payload(
    ts: float, online: bool, sensors: Mapping[str, Mapping[str, object]] | None = None,
    **extra: object,
) -> dict[str, object]:
    """``sensors``: location → {connected, battery_pct, rate_hz, loss_pct} (any subset);
    ``extra``: delivery state such as ``mqtt`` and ``outbox`` depth."""
    return {**stamp(ts), "state": "online" if online else "offline", "sensors": dict(sensors or {}),
            **extra}


def posture_payload(
    ts: float, posture: str, since: float, sitting_today_min: float | None = None
) -> dict[str, object]:
    return {
        **stamp(ts),
        "posture": posture,
        "since": rfc3339(since),
        "since_ms": round(since * 1000),
        "sitting_today_min": _num(sitting_today_min),
    }


def angles_payload(ts: float, posture: str, angles: Mapping[str, float]) -> dict[str, object]:
    return {**stamp(ts), "posture": posture, "angles": {k: _num(v) for k, v in angles.items()}}


def angles_payloads(
    ts: Sequence[float] | np.ndarray, postures: Sequence[str], angles: Mapping[str, Sequence[float]]
) -> list[dict[str, object]]:
    """``angles_payload`` for many 1 Hz rows at once (equal payloads), built column by column:
    the time stamps and each angle column in one pass instead of a mapping per row."""
    ts = np.asarray(ts, dtype=np.float64)
    ms = np.round(ts * 1000).astype(np.int64)
    texts = np.strings.add(np.datetime_as_string(ms.astype("datetime64[ms]")), "Z").tolist()
    names = list(angles)
    columns = [_rounded(np.asarray(angles[name], dtype=np.float64)) for name in names]
    return [
        {"v": SCHEMA_VERSION, "ts": text, "ts_ms": stamp_ms, "posture": posture,
         "angles": dict(zip(names, row, strict=True))}
        for text, stamp_ms, posture, *row in zip(texts, ms.tolist(), postures, *columns, strict=True)
    ]


def _rounded(values: np.ndarray) -> list[float | None]:
    """``_num`` over a column: Python's round (as the single-row payload), None where not finite."""
    out: list[float | None] = list(map(round, values.tolist(), itertools.repeat(3)))
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = None
    return out


def episode_payload(event: EpisodeEvent) -> dict[str, object]:
    ep = event.episode
    return {
        **stamp(event.ts),
        "id": f"{ep.id}:{event.type}",
        "event": event.type,
        "episode_id": ep.id,
        "kind": ep.kind,
        "start": rfc3339(ep.start),
        "start_ms": round(ep.start * 1000),
        "confirmed_ms": round(ep.confirmed * 1000),
        "end": None if ep.end is None else rfc3339(ep.end),
        "end_ms": None if ep.end is None else round(ep.end * 1000),
        "duration_s": _num(ep.duration_s),
        "peak": _num(ep.peak),
        "mean": _num(ep.mean),
    }


def alert_payload(alert: Alert) -> dict[str, object]:
    return {
        **stamp(alert.ts),
        "id": alert.id,
        "kind": alert.kind,
        "title": alert.title,
        "message": alert.message,
        "severity": alert.severity,
        "repeat": alert.repeat,
        "episode_id": alert.episode_id,
        "episode_start": rfc3339(alert.episode_start),
        "episode_start_ms": round(alert.episode_start * 1000),
        "episode_end_ms": None if alert.episode_end is None else round(alert.episode_end * 1000),
    }


def day_figures(day: str, values: Mapping[str, float], final: bool) -> dict[str, object]:
    """One local day's summary figures (rounded; a non-finite figure is null)."""
    return {"day": day, "final": final, **{k: _num(v) for k, v in sorted(values.items())}}


def daily_payload(ts: float, today: Mapping[str, object] | None,
                  last: Mapping[str, object] | None) -> dict[str, object]:
    """The retained ``daily`` topic: the current local day's running summary (``today``) and the
    last finished day's (``last``), each from ``day_figures`` (or null before there is one)."""
    return {**stamp(ts), "today": dict(today) if today is not None else None,
            "last": dict(last) if last is not None else None}


def budget_payload(state: BudgetState) -> dict[str, object]:
    """The day's reminder budget (for the status topic or the app): used, left, next allowance."""
    next_ts = state.next_allowance_ts
    return {
        **stamp(state.ts),
        "day": state.day,
        "budget": state.budget,
        "used": state.used,
        "allowed_now": state.allowed_now,
        "remaining": state.remaining,
        "next_allowance": None if next_ts is None else rfc3339(next_ts),
        "next_allowance_ms": None if next_ts is None else round(next_ts * 1000),
        "exhausted": state.exhausted,
    }


def reminders_status(state: BudgetState) -> dict[str, object]:
    """The status payload's ``reminders``: the day's budget for a status line, Home Assistant and
    the web app's Now page (used of budget, how many the spread allows by now, when the next one
    may go out, and, once the budget is spent, when reminders start again)."""
    next_ts, resumes = state.next_allowance_ts, state.resumes_ts
    return {"day": state.day, "budget": state.budget, "used": state.used,
            "allowed_now": state.allowed_now, "remaining": state.remaining,
            "next_allowance_ms": None if next_ts is None else round(next_ts * 1000),
            "exhausted": state.exhausted,
            "resumes_ms": None if resumes is None else round(resumes * 1000)}


def budget_exhausted_payload(notice: BudgetExhausted) -> dict[str, object]:
    """The once-a-day "no more reminders today" notice; its id makes a redelivery recognisable."""
    return {
        **stamp(notice.ts),
        "id": f"{notice.type}-{notice.day}",
        "type": notice.type,
        "day": notice.day,
        "used": notice.used,
        "budget": notice.budget,
        "resumes": rfc3339(notice.resumes_ts),
        "resumes_ms": round(notice.resumes_ts * 1000),
        "title": notice.title,
        "message": notice.message,
    }


def command_result_payload(
    ts: float,
    command: str,
    *,
    ok: bool,
    request_id: str | None = None,
    error: str | None = None,
    result: Mapping[str, object] | None = None,
) -> dict[str, object]:
    return {
        **stamp(ts),
        "command": command,
        "id": request_id,
        "ok": ok,
        "error": error,
        "result": dict(result or {}),
    }
