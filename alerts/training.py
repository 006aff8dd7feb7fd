"""Training mode: posture goals that tighten week by week, as a pure function of the calendar.

A wearer who starts with hour-long sitting bouts and slumps for 40 % of their sitting is not
helped by a 45-minute / 20 % target on day one. Training mode starts from easier goals and moves
one step towards the final goals after every week in which the goal of that week was met on
enough days; a week that was missed keeps the step. ``training_goal`` computes today's goal from
the start date and the per-week progress, so the same history always gives the same goal.

``streak`` counts, for one goal, the valid days in a row on which it was met, now and at best.
A valid day is one worn long enough to judge; a day without enough wear neither breaks nor
extends a streak (taking the sensors off for a day is not a lapse), a day that missed the goal
ends it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class TrainingSettings:
    enabled: bool = False
    start_date: str = ""
    sitting_bout_start_min: float = 60.0
    sitting_bout_goal_min: float = 45.0
    slumped_start_pct: float = 40.0
    slumped_goal_pct: float = 20.0
    weeks: int = 6
    days_to_advance: int = 4

    def validate(self, where: str, error: type[ValueError] = ValueError) -> None:
        if self.start_date:
            try:
                date.fromisoformat(self.start_date)
            except ValueError:
                raise error(f"{where}.start_date: expected an ISO date like 2026-01-05, "
                            f"got {self.start_date!r}") from None
        elif self.enabled:
            raise error(f"{where}.start_date is needed when training is enabled")
        for name in ("sitting_bout_start_min", "sitting_bout_goal_min"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise error(f"{where}.{name} must be a finite number > 0, got {value}")
        for name in ("slumped_start_pct", "slumped_goal_pct"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= 100):
                raise error(f"{where}.{name} must be a percentage 0…100, got {value}")
        if self.sitting_bout_goal_min > self.sitting_bout_start_min:
            raise error(f"{where}.sitting_bout_goal_min must not exceed sitting_bout_start_min")
        if self.slumped_goal_pct > self.slumped_start_pct:
            raise error(f"{where}.slumped_goal_pct must not exceed slumped_start_pct")
        if self.weeks < 1:
            raise error(f"{where}.weeks must be ≥ 1, got {self.weeks}")
        if not 0 <= self.days_to_advance <= 7:
            raise error(f"{where}.days_to_advance must be within 0…7, got {self.days_to_advance}")


@dataclass(frozen=True, slots=True)
class TrainingGoal:
    """Today's goals: ``week`` counts from 0 (the start week), ``step`` of ``steps`` reached."""

    week: int
    step: int
    steps: int
    sitting_bout_max_min: float
    slumped_max_pct: float


def training_goal(
    settings: TrainingSettings, today: date, days_met_per_week: Sequence[int] = ()
) -> TrainingGoal | None:
    """The goal for ``today``; None when training is off or has not started yet.

    ``days_met_per_week[i]`` is on how many days of training week ``i`` the wearer met that
    week's goal; only completed weeks (before today's) count, later entries are ignored.
    """
    if not settings.enabled or not settings.start_date:
        return None
    start = date.fromisoformat(settings.start_date)
    if today < start:
        return None
    week = (today - start).days // 7
    steps = settings.weeks - 1
    step = 0
    for met in list(days_met_per_week)[:week]:
        if met >= settings.days_to_advance:
            step = min(step + 1, steps)
    share = step / steps if steps else 1.0
    bout = settings.sitting_bout_start_min + share * (
        settings.sitting_bout_goal_min - settings.sitting_bout_start_min
    )
    slumped = settings.slumped_start_pct + share * (
        settings.slumped_goal_pct - settings.slumped_start_pct
    )
    return TrainingGoal(week, step, steps, round(bout, 1), round(slumped, 1))


@dataclass(frozen=True, slots=True)
class Streak:
    """Valid days in a row meeting a goal: ``current`` up to the last day, ``best`` ever."""

    current: int = 0
    best: int = 0


def streak(days_met: Iterable[bool | None]) -> Streak:
    """The streak of one goal over days in order: True met, False missed, None not valid."""
    current = best = 0
    for met in days_met:
        if met is None:
            continue
        current = current + 1 if met else 0
        best = max(best, current)
    return Streak(current, best)
