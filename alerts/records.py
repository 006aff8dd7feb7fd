"""Typed records that flow out of the alert policy: alerts, their follow-up and day summaries."""

from __future__ import annotations

from dataclasses import dataclass, field


def alert_id(episode_id: str, repeat: int) -> str:
    """Stable alert id: the episode's id and which reminder of that episode this is (0 = first)."""
    return f"{episode_id}-a{repeat:d}"


@dataclass(frozen=True, slots=True)
class Alert:
    """What the phone shows. ``ts`` is when the policy issued it (Unix seconds).

    ``episode_start``/``episode_end`` are the episode's backdated bounds (end None while open).
    """

    id: str
    kind: str
    title: str
    message: str
    severity: str
    ts: float
    episode_id: str
    episode_start: float
    episode_end: float | None = None
    repeat: int = 0


@dataclass(slots=True)
class FollowUp:
    """Whether the wearer broke the episode after an alert, and how fast.

    ``response_s`` is episode end − alert time (0 when the episode had already ended by the
    alert's time), None while the episode is still open.
    """

    alert: Alert
    response_s: float | None = None

    def broke_within(self, window_s: float) -> bool:
        return self.response_s is not None and self.response_s <= window_s


@dataclass(frozen=True, slots=True)
class Suppression:
    """One alert the policy held back, and why (counted once per alert and reason)."""

    ts: float
    kind: str
    alert_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class AlertDaySummary:
    """One local day of alerting: what went out, what was held back, how the wearer responded.

    ``broke_within[w]`` counts alerts whose episode ended within ``w`` seconds of the alert;
    ``response_rate[w]`` is that over ``alerts`` (0.0 on a day without alerts).
    """

    day: str
    alerts: int
    by_kind: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)
    broke_within: dict[float, int] = field(default_factory=dict)
    response_rate: dict[float, float] = field(default_factory=dict)
