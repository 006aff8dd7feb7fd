"""The figures of a multi-day trends report: one value per local day and figure, and the habits
of the period in plain words.

``day_figures`` recomputes a day's figures from its 1 Hz postures, episodes and reminders (what a
replay folder or the store's raw tables hold); ``with_summary`` lets figures the monitor itself
stored for the day (the ``daily_summary`` table, a replay's ``daily.csv``) take precedence, found
by name through ``FIGURES``, the one label table. ``TrendData`` holds a period (and the period
before it, for comparisons); ``habit_sentences`` describes it. No plotting and no I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from posturewatch.analytics.records import Posture
from posturewatch.analytics.report_stats import (
    LONG_BOUT_S,
    RESPONSE_WINDOW_S,
    ReportAlert,
    ReportEpisode,
    hm,
    sitting_bouts,
)


@dataclass(frozen=True, slots=True)
class Figure:
    """One daily figure: its label and unit for people, whether less of it is better, and the
    stored summary names (with the factor into this figure's unit) it can be read from."""

    name: str
    label: str
    unit: str  # "min", "count", "pct", "per_h"
    lower_is_better: bool | None
    stored_as: tuple[tuple[str, float], ...] = ()


FIGURES: tuple[Figure, ...] = (
    Figure("sitting_min", "Time sitting", "min", True, (("sitting_min", 1.0), ("sitting_s", 1 / 60))),
    Figure("long_bouts", "Sitting spells over 30 min", "count", True,
           (("long_bouts", 1.0), ("long_sitting_bouts", 1.0))),
    Figure("longest_bout_min", "Longest sitting spell", "min", True,
           (("longest_bout_min", 1.0), ("longest_bout_s", 1 / 60))),
    Figure("breaks_per_sitting_h", "Breaks per hour of sitting", "per_h", False,
           (("breaks_per_sitting_h", 1.0),)),
    Figure("slumped_pct", "Sitting time slumped", "pct", True,
           (("slumped_pct", 1.0), ("tilt_share_pct", 1.0), ("tilt_share", 100.0))),
    Figure("forward_head_min", "Head and upper back forward", "min", True,
           (("forward_head_min", 1.0), ("forward_head_s", 1 / 60))),
    Figure("lumbar_bends", "Bends with the back", "count", True,
           (("lumbar_bends", 1.0), ("bends", 1.0))),
    Figure("sit_to_stand", "Times you stood up", "count", False,
           (("sit_to_stand", 1.0), ("sit_to_stand_count", 1.0))),
    Figure("steps", "Steps", "count", False, (("steps", 1.0),)),
    Figure("response_rate_pct", "Reminders acted on", "pct", False,
           ((f"response_rate_{int(RESPONSE_WINDOW_S)}s", 100.0),)),
    Figure("wear_min", "Time wearing the sensors", "min", None,
           (("wear_min", 1.0), ("wear_s", 1 / 60), ("monitored_min", 1.0))),
)
FIGURE_BY_NAME = {f.name: f for f in FIGURES}
# a day with less wear than this says little about the day's habits
MIN_WEAR_MIN = 60.0
_WORN = (int(Posture.SITTING), int(Posture.STANDING), int(Posture.WALKING), int(Posture.LYING),
         int(Posture.RUNNING), int(Posture.STAIRS), int(Posture.CYCLING))
_UPRIGHT = (int(Posture.STANDING), int(Posture.WALKING))
_STAND_UP_GAP_S = 5  # sitting then upright within this many seconds is one stand-up


def _overlap_mask(t: np.ndarray, episodes: Sequence[ReportEpisode], kind: str, end: float) -> np.ndarray:
    mask = np.zeros(len(t), bool)
    for e in episodes:
        if e.kind == kind:
            lo = int(np.searchsorted(t, e.start, "left"))
            hi = int(np.searchsorted(t, e.end if e.end is not None else end, "left"))
            mask[lo:hi] = True
    return mask


def day_figures(t: np.ndarray, posture: np.ndarray, episodes: Sequence[ReportEpisode],
                alerts: Sequence[ReportAlert], responses_known: bool) -> dict[str, float]:
    """A day's figures from its 1 Hz rows (``t`` whole seconds, sorted), episodes and reminders."""
    t = np.asarray(t, dtype=np.int64)
    codes = np.asarray(posture, dtype=np.int8)
    out: dict[str, float] = {}
    wear_s = float(np.isin(codes, _WORN).sum())
    out["wear_min"] = wear_s / 60.0
    if not len(t) or wear_s == 0:
        return out
    sitting = codes == int(Posture.SITTING)
    sitting_s = float(sitting.sum())
    out["sitting_min"] = sitting_s / 60.0
    grid = np.full(int(t[-1] - t[0]) + 1, int(Posture.UNKNOWN), np.int8)
    grid[t - t[0]] = codes
    bouts, breaks = sitting_bouts(float(t[0]), grid)
    out["long_bouts"] = float(sum(b.duration_s >= LONG_BOUT_S for b in bouts))
    out["longest_bout_min"] = max((b.duration_s for b in bouts), default=0.0) / 60.0
    if sitting_s >= 600:
        out["breaks_per_sitting_h"] = len(breaks) / (sitting_s / 3600.0)
        tilted = _overlap_mask(t, episodes, "posterior_tilt", float(t[-1]) + 1)
        out["slumped_pct"] = float((tilted & sitting).sum()) / sitting_s * 100.0
    head = _overlap_mask(t, episodes, "forward_head", float(t[-1]) + 1)
    out["forward_head_min"] = float(head.sum()) / 60.0
    out["lumbar_bends"] = float(sum(e.kind == "lumbar_bend" for e in episodes))
    active = np.isin(codes, (int(Posture.SITTING), *_UPRIGHT))
    c, ta = codes[active], t[active]
    stood = (c[:-1] == int(Posture.SITTING)) & np.isin(c[1:], _UPRIGHT) & (np.diff(ta) <= _STAND_UP_GAP_S)
    out["sit_to_stand"] = float(stood.sum())
    if responses_known and alerts:
        acted = sum(a.response_s is not None and a.response_s <= RESPONSE_WINDOW_S for a in alerts)
        out["response_rate_pct"] = acted / len(alerts) * 100.0
    return out


def with_summary(figures: Mapping[str, float], summary: Mapping[str, float]) -> dict[str, float]:
    """``figures`` with every figure the stored day summary holds (under any of its names)
    replaced by the stored value: the monitor saw the full-rate data."""
    out = dict(figures)
    for fig in FIGURES:
        for stored, factor in fig.stored_as:
            value = summary.get(stored)
            if value is not None and math.isfinite(float(value)):
                out[fig.name] = float(value) * factor
                break
    return out


@dataclass(frozen=True, slots=True)
class GoalDay:
    """A training day: the day's goals and whether they were met (None: too little wear)."""

    day: str
    week: int
    sitting_bout_max_min: float
    slumped_max_pct: float
    met: bool | None
    bout_met: bool | None = None  # each goal on its own
    slumped_met: bool | None = None


@dataclass(frozen=True, slots=True)
class GoalStreak:
    """Valid days in a row (days with too little wear skipped) meeting one goal, up to the
    period's end (``current``) and at best since training began."""

    name: str  # "sitting_bout", "slumped" or "both"
    label: str
    current: int
    best: int


@dataclass
class Goals:
    """Training progress over the period, and where the wearer stands at its end."""

    days: list[GoalDay]
    week: int
    step: int
    steps: int
    days_to_advance: int
    met_this_week: int
    streaks: list[GoalStreak] = field(default_factory=list)

    @property
    def progress_pct(self) -> float:
        """How far the goals have moved from the start goals to the final ones."""
        return 100.0 * self.step / self.steps if self.steps else 100.0

    def of(self, day: str) -> GoalDay | None:
        return next((g for g in self.days if g.day == day), None)


@dataclass
class TrendData:
    """``days``: every local day of the period, in order; ``figures[day]`` name → value (a day
    without data maps to an empty dict); ``before`` the same for the period just before."""

    user: str
    tz: str
    days: list[str]
    figures: dict[str, dict[str, float]]
    before: dict[str, dict[str, float]] = field(default_factory=dict)
    reminders: dict[str, int] = field(default_factory=dict)
    responses_known: bool = True
    source_kind: str = "embedded store"  # "embedded store" or "replay": never a path
    goals: Goals | None = None

    def series(self, name: str) -> np.ndarray:
        return np.array([self.figures[d].get(name, math.nan) for d in self.days], float)

    def worn_days(self, period: Mapping[str, Mapping[str, float]] | None = None) -> list[str]:
        period = self.figures if period is None else period
        return [d for d, f in period.items() if f.get("wear_min", 0.0) >= MIN_WEAR_MIN]

    def present(self) -> list[Figure]:
        """The figures at least one day has a value for, in table order."""
        return [f for f in FIGURES if np.isfinite(self.series(f.name)).any()]

    def average(self, name: str, period: Mapping[str, Mapping[str, float]] | None = None) -> float:
        period = self.figures if period is None else period
        values = [period[d][name] for d in self.worn_days(period) if name in period[d]]
        return float(np.mean(values)) if values else math.nan


def format_value(fig: Figure, value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if fig.unit == "min":
        return hm(value * 60.0)
    if fig.unit == "pct":
        return f"{value:.0f} %"
    if fig.unit == "per_h":
        return f"{value:.1f} an hour"
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")


def _minutes(m: float) -> str:
    return hm(abs(m) * 60.0)


def _change(fig: Figure, now: float, then: float, compare: str) -> str:
    """", 25 minutes less than the week before" (empty when there is nothing to compare)."""
    if not (math.isfinite(now) and math.isfinite(then)):
        return ""
    diff = now - then
    if fig.unit == "min":
        small = abs(diff) < max(2.0, 0.03 * abs(then))
        amount = _minutes(diff)
        more, less = "more", "less"
    elif fig.unit == "pct":
        small, amount, more, less = abs(diff) < 1.0, f"{abs(diff):.0f} percentage points", "more", "less"
    elif fig.unit == "per_h":
        small, amount, more, less = abs(diff) < 0.1, f"{abs(diff):.1f}", "more", "fewer"
    else:
        small = abs(diff) < max(0.5, 0.03 * abs(then))
        amount, more, less = format_value(fig, abs(diff)), "more", "fewer"
    if small:
        return f", about the same as {compare}"
    return f", {amount} {more if diff > 0 else less} than {compare}"


def _period_name(n_days: int) -> tuple[str, str]:
    """(this period, the one before) in words."""
    if n_days == 7:
        return "this week", "the week before"
    return f"these {n_days} days", f"the {n_days} days before"


def habit_sentences(trend: TrendData) -> list[str]:
    """The period's habits in plain words, each sentence one habit with its change."""
    n = len(trend.days)
    _, compare = _period_name(n)
    worn = trend.worn_days()
    if not worn:
        return [f"The sensors were not worn long enough on any of the {n} days to describe your habits."]
    before_worn = trend.worn_days(trend.before)

    def avg(name: str) -> tuple[float, float]:
        now = trend.average(name)
        then = trend.average(name, trend.before) if before_worn else math.nan
        return now, then

    out = []
    wear, wear_then = avg("wear_min")
    out.append(f"You wore the sensors on {len(worn)} of the {n} days, for {_minutes(wear)} a day on "
               f"average{_change(FIGURE_BY_NAME['wear_min'], wear, wear_then, compare)}.")
    sit, sit_then = avg("sitting_min")
    if math.isfinite(sit):
        out.append(f"You sat for {_minutes(sit)} a day on average"
                   f"{_change(FIGURE_BY_NAME['sitting_min'], sit, sit_then, compare)}.")
    longest = [(trend.figures[d].get("longest_bout_min", math.nan), d) for d in worn]
    longest = [(v, d) for v, d in longest if math.isfinite(v)]
    bouts, bouts_then = avg("long_bouts")
    if math.isfinite(bouts):
        text = (f"On a typical day {format_value(FIGURE_BY_NAME['long_bouts'], bouts)} of your sitting "
                f"spells lasted longer than half an hour"
                f"{_change(FIGURE_BY_NAME['long_bouts'], bouts, bouts_then, compare)}")
        if longest:
            value, day = max(longest)
            text += f"; the longest was {_minutes(value)}, on {_weekday(day)}"
        out.append(text + ".")
    breaks, breaks_then = avg("breaks_per_sitting_h")
    if math.isfinite(breaks):
        out.append(f"You got up from your seat {breaks:.1f} times for every hour of sitting"
                   f"{_change(FIGURE_BY_NAME['breaks_per_sitting_h'], breaks, breaks_then, compare)}.")
    slumped, slumped_then = avg("slumped_pct")
    if math.isfinite(slumped):
        out.append(f"You sat slumped, with your lower back rounded into the chair, for {slumped:.0f} % "
                   f"of your sitting time"
                   f"{_change(FIGURE_BY_NAME['slumped_pct'], slumped, slumped_then, compare)}.")
    head, head_then = avg("forward_head_min")
    if math.isfinite(head):
        out.append(f"Your head and upper back leaned forward for {_minutes(head)} a day"
                   f"{_change(FIGURE_BY_NAME['forward_head_min'], head, head_then, compare)}.")
    for name, sentence in (("lumbar_bends", "You bent forward from the lower back {v} times a day"),
                           ("sit_to_stand", "You stood up from sitting {v} times a day"),
                           ("steps", "You walked about {v} steps a day")):
        now, then = avg(name)
        if math.isfinite(now):
            value = f"{round(now, -2):,.0f}" if name == "steps" and now >= 1000 else f"{now:.0f}"
            out.append(sentence.format(v=value) + _change(FIGURE_BY_NAME[name], now, then, compare) + ".")
    sent = sum(trend.reminders.get(d, 0) for d in trend.days)
    rate, rate_then = avg("response_rate_pct")
    if sent and math.isfinite(rate) and trend.responses_known:
        out.append(f"Your phone reminded you {sent} times; you changed position within "
                   f"{RESPONSE_WINDOW_S / 60:.0f} minutes after {rate:.0f} % of the reminders"
                   f"{_change(FIGURE_BY_NAME['response_rate_pct'], rate, rate_then, compare)}.")
    elif sent:
        out.append(f"Your phone reminded you {sent} times.")
    if budget := budget_sentence(trend):
        out.append(budget)
    return out


def budget_sentence(trend: TrendData) -> str:
    """"Your daily budget of 12 reminders was all used on 3 of the 6 days it applied." (empty when
    no day's budget is known)."""
    capped = [(d, int(trend.figures[d]["reminder_budget"])) for d in trend.days
              if trend.figures[d].get("reminder_budget", 0) > 0]
    if not capped:
        return ""
    spent = sum(trend.reminders.get(d, 0) >= cap for d, cap in capped)
    caps = sorted({cap for _, cap in capped})
    size = str(caps[0]) if len(caps) == 1 else f"{caps[0]}–{caps[-1]}"
    return (f"Your daily budget of {size} reminders was all used on {spent} of the {len(capped)} "
            f"day{'s' if len(capped) != 1 else ''} with reminders on.")


def goal_sentences(goals: Goals | None) -> list[str]:
    if goals is None or not goals.days:
        return []
    last = goals.days[-1]
    met = [g for g in goals.days if g.met]
    judged = [g for g in goals.days if g.met is not None]
    out = [f"Your goal now (training week {goals.week + 1}, step {goals.step + 1} of {goals.steps + 1}): "
           f"keep every sitting spell under {last.sitting_bout_max_min:.0f} minutes and sit slumped for "
           f"less than {last.slumped_max_pct:.0f} % of your sitting time."]
    out.append(f"You met the day's goal on {len(met)} of the {len(judged)} days you wore the sensors.")
    if goals.streaks:
        parts = [f"{s.label}: {_days(s.current)} in a row (best {_days(s.best)})" for s in goals.streaks]
        out.append("Streaks, counting the days you wore the sensors: " + "; ".join(parts) + ".")
    left = goals.days_to_advance - goals.met_this_week
    if goals.step >= goals.steps:
        out.append("You have reached the final goal: keep it up.")
    elif left <= 0:
        out.append(f"This week you met it on {_days(goals.met_this_week)}: next week the goal moves one "
                   "step further.")
    else:
        out.append(f"This week you met it on {_days(goals.met_this_week)}; {left} more "
                   f"day{'s' if left != 1 else ''} this week and the goal moves one step further.")
    return out


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def _weekday(day: str) -> str:
    return date.fromisoformat(day).strftime("%A %-d %B")
