"""The daily reminder budget, spread evenly over the waking hours.

Without pacing a 12-reminder cap is spent by mid-morning on a slumpy day and the wearer hears
nothing for the rest of it. Here the share of the budget usable by a local time grows with the
share of the waking hours gone by, plus a small burst allowance so the first reminders of the
morning are not held back: ``allowed(t) = min(cap, burst + floor(steps × f(t)))`` with
``steps = cap − burst + 1`` (``cap`` without a burst), so the allowance never exceeds
``cap × f + burst`` and the day's last reminder becomes available before the waking hours end
(with the defaults at 20:44, not in the quiet hours that follow).
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime, time, timedelta

from posturewatch.alerts.records import BudgetExhausted, BudgetState
from posturewatch.alerts.settings import AlertSettings
from posturewatch.alerts.texts import budget_exhausted_text


class DailyBudget:
    """Counts reminders per local day and answers whether one more may go out at ``ts``."""

    def __init__(self) -> None:
        self._used: Counter[str] = Counter()
        self._said: set[str] = set()

    def day(self, settings: AlertSettings, ts: float) -> str:
        return datetime.fromtimestamp(ts, settings.zone).date().isoformat()

    def allowed(self, settings: AlertSettings, ts: float) -> int | None:
        """How many reminders the spread allows by ``ts`` on its local day (None = no cap)."""
        cap = settings.daily_cap
        if not cap:
            return None
        share = self._waking_share(settings, ts)
        # the epsilon keeps exact step instants (e.g. steps × f = 3.0) from rounding down
        return min(cap, settings.daily_burst + math.floor(self._steps(settings) * share + 1e-9))

    def blocked(self, settings: AlertSettings, ts: float) -> str | None:
        """'daily_cap' when the day's budget is spent, 'budget_paced' when it is not due yet."""
        allowed = self.allowed(settings, ts)
        if allowed is None:
            return None
        used = self._used[self.day(settings, ts)]
        if used >= settings.daily_cap:
            return "daily_cap"
        return "budget_paced" if used >= allowed else None

    def spend(self, settings: AlertSettings, ts: float) -> BudgetExhausted | None:
        """Count a sent reminder; the notice when it was the day's last one (once per day)."""
        day = self.day(settings, ts)
        self._used[day] += 1
        cap = settings.daily_cap
        if not cap or self._used[day] < cap or day in self._said:
            return None
        self._said.add(day)
        resumes = self._waking_start(settings, date.fromisoformat(day) + timedelta(days=1))
        title, message = budget_exhausted_text(self._used[day], cap, resumes, settings.zone)
        return BudgetExhausted(day, ts, self._used[day], cap, resumes, title, message)

    def state(self, settings: AlertSettings, ts: float) -> BudgetState:
        day = self.day(settings, ts)
        used = self._used[day]
        cap = settings.daily_cap
        allowed = self.allowed(settings, ts)
        if allowed is None:
            return BudgetState(day, ts, 0, used, None, None, None, False)
        exhausted = used >= cap
        resumes = self._waking_start(settings, date.fromisoformat(day) + timedelta(days=1))
        return BudgetState(
            day, ts, cap, used, allowed, max(0, cap - used),
            None if exhausted else self._next_allowance(settings, ts, used, allowed), exhausted,
            resumes if exhausted else None,
        )

    def forget_before(self, day: str) -> None:
        for old in [d for d in self._used if d < day]:
            del self._used[old]
        self._said = {d for d in self._said if d >= day}

    # ---- internals ----------------------------------------------------------------------

    @staticmethod
    def _steps(settings: AlertSettings) -> int:
        cap, burst = settings.daily_cap, settings.daily_burst
        return max(cap - burst, 0) + min(burst, 1)

    @staticmethod
    def _waking_bounds(settings: AlertSettings) -> tuple[float, float]:
        waking = settings.waking_hours
        return 60.0 * waking.start_minute(), 60.0 * waking.end_minute()

    def _waking_share(self, settings: AlertSettings, ts: float) -> float:
        local = datetime.fromtimestamp(ts, settings.zone)
        midnight = datetime.combine(local.date(), time(), settings.zone)
        # wall-clock seconds since local midnight: a DST day still has its waking hours on the clock
        seconds = (local.replace(tzinfo=None) - midnight.replace(tzinfo=None)).total_seconds()
        start, end = self._waking_bounds(settings)
        return min(1.0, max(0.0, (seconds - start) / (end - start)))

    def _waking_start(self, settings: AlertSettings, day: date) -> float:
        start, _ = self._waking_bounds(settings)
        return (datetime.combine(day, time(), settings.zone) + timedelta(seconds=start)).timestamp()

    def _next_allowance(self, settings: AlertSettings, ts: float, used: int, allowed: int) -> float:
        if used < allowed:
            return ts
        # the smallest waking share whose allowance exceeds ``used``
        share = (used + 1 - settings.daily_burst) / self._steps(settings)
        start, end = self._waking_bounds(settings)
        local = datetime.fromtimestamp(ts, settings.zone)
        wall = datetime.combine(local.date(), time()) + timedelta(seconds=start + share * (end - start))
        return max(ts, wall.replace(tzinfo=settings.zone).timestamp())
