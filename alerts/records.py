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

    ``response_s`` is episode end − alert time, set only when the end came after the alert: it
    is None while the episode is open and when the episode had already ended at the alert's
    time (``ended_before`` is then True; such an alert is no response, whatever its timing).
    Feedback about a movement that was already over when it was reported (a lumbar bend) is
    never a response either (``feedback``).
    """

    alert: Alert
    response_s: float | None = None
    ended_before: bool = False
    feedback: bool = False

    def broke_within(self, window_s: float) -> bool:
        return self.response_s is not None and 0.0 < self.response_s <= window_s


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

    ``broke_within[w]`` counts alerts whose episode ended after the alert and within ``w``
    seconds of it; ``response_rate[w]`` is that over ``alerts`` (0.0 on a day without alerts).
    ``suppressed`` counts hold-backs by reason: "ending" (the episode had stopped), "quiet_hours",
    "snoozed", "budget_paced" (ahead of the day's spread), "daily_cap" (budget spent),
    "cooldown", "posture", "disabled". ``budget`` is the day's reminder budget (0: no cap).
    """

    day: str
    alerts: int
    by_kind: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)
    broke_within: dict[float, int] = field(default_factory=dict)
    response_rate: dict[float, float] = field(default_factory=dict)
    budget: int = 0


@dataclass(frozen=True, slots=True)
class BudgetState:
    """Where one local day's reminder budget stands at ``ts``.

    ``allowed_now`` is how many reminders the even spread over the waking hours allows by
    ``ts`` (budget × elapsed waking share + the burst allowance, at most the budget);
    ``next_allowance_ts`` is when one more becomes allowed (``ts`` itself when one is allowed
    now, None when the day's budget is spent). ``budget`` 0 means no cap: then ``remaining``
    and ``next_allowance_ts`` are None and the budget never runs out. ``resumes_ts`` (a spent
    budget only) is when reminders start again: the next day's waking hours.
    """

    day: str
    ts: float
    budget: int
    used: int
    allowed_now: int | None
    remaining: int | None
    next_allowance_ts: float | None
    exhausted: bool
    resumes_ts: float | None = None


@dataclass(frozen=True, slots=True)
class BudgetExhausted:
    """Said once per local day, when the reminder sent at ``ts`` was the day's last one.

    ``resumes_ts`` is the start of the next day's waking hours; ``title``/``message`` are the
    words to show the wearer (or a status line).
    """

    day: str
    ts: float
    used: int
    budget: int
    resumes_ts: float
    title: str
    message: str
    type: str = "budget_exhausted"
