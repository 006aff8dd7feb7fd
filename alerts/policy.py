"""Alert policy: from episode events to alerts a person can live with.

Per episode kind an alert falls due ``delay_s`` after the (backdated) episode start and, when
``repeat_s`` > 0, again every ``repeat_s`` while the episode stays open (prolonged sitting).
A due alert goes out unless something blocks it — the episode already ending, quiet hours, a
snooze, the daily budget, the kind's cooldown, or the wearer's current posture. A blocked alert
stays pending while its episode is open and is tried again on every ``tick``; reminders missed
meanwhile are skipped, never sent in a burst. Each hold-back is counted once per alert and reason.

Detectors backdate an episode's end: the end event arrives seconds after the condition stopped.
The caller tells the policy which open episodes have stopped but are not confirmed ended yet
(``episodes_ending``), and no reminder goes out for an episode from that moment on, so no
reminder is ever about an episode that had already ended when it was sent. A response counts
only when the episode ends after the reminder.

The daily budget is spread over the waking hours (``budget.DailyBudget``); when the day's last
reminder goes out, one ``BudgetExhausted`` notice says so (``take_notices``). Reminders the
wearer keeps ignoring in one context (kind × block of the local clock) are spaced out there,
acted-on ones are not (``escalation.ContextEscalation``); the cooldown is always measured from
the kind's last reminder, whatever its context.

Time only ever comes in as arguments (event timestamps, ``now``), so a replay of the same
events gives the same alerts with the same ids.

``snapshot``/``restore`` (alerts/policy_state.py; on disk: store/policy_state.py) carry the
whole state over a restart: a daemon killed and started again neither repeats a reminder nor
forgets a snooze, a cooldown or the day's budget. ``changes`` counts mutations, so a caller
saves only when something changed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from posturewatch.alerts.budget import DailyBudget
from posturewatch.alerts.escalation import ContextEscalation
from posturewatch.alerts.records import (
    Alert,
    AlertDaySummary,
    BudgetExhausted,
    BudgetState,
    FollowUp,
    Suppression,
    alert_id,
)
from posturewatch.alerts.settings import AlertSettings
from posturewatch.alerts.texts import alert_text
from posturewatch.analytics.records import Episode, EpisodeEvent, Posture

# follow-ups and suppressions older than this are forgotten (the day summary needs one day)
RETAIN_S = 8 * 86400.0

# a start event confirmed at start + sustain must count as due despite float rounding
DUE_TOLERANCE_S = 1e-6

# after a restore, an episode the detector reports again starting this soon after the data
# resumed is the one that was open before the restart (it went on through the outage)
RESUME_S = 120.0
# restored episodes not reported again by then ended during the outage
CARRY_S = 2 * 3600.0


def posture_label(posture: Posture | str | int | None) -> str:
    """Normalise a posture given as enum, code or label to its label."""
    if posture is None:
        return Posture.UNKNOWN.label
    if isinstance(posture, str):
        return Posture.from_label(posture).label
    return Posture(int(posture)).label


@dataclass(slots=True)
class _OpenEpisode:
    episode: Episode
    first_due: float
    repeat: int = 0
    due: float = 0.0
    counted: set[tuple[int, str]] = field(default_factory=set)
    alerts: list[FollowUp] = field(default_factory=list)
    # reported only once over (a lumbar bend): the reminder is feedback on a finished movement
    finished: bool = False


class AlertPolicy:
    """Turns ``EpisodeEvent``s (plus the current posture and time) into ``Alert``s."""

    def __init__(self, settings: AlertSettings | None = None) -> None:
        self.settings = settings or AlertSettings()
        self._open: dict[str, _OpenEpisode] = {}
        self._last_alert_ts: dict[str, float] = {}
        self._budget = DailyBudget()
        self._ending: dict[str, list[tuple[float, float]]] = {}
        self._escalation = ContextEscalation()
        self._unjudged: list[FollowUp] = []
        self._notices: list[BudgetExhausted] = []
        # reminders whose episode turned out to have ended before them (should stay 0)
        self.sent_after_end = 0
        self._follow_ups: list[FollowUp] = []
        self._suppressions: list[Suppression] = []
        self.suppressed: Counter[str] = Counter()
        self._snooze_until = -math.inf
        self._snooze_kinds: frozenset[str] | None = None
        # restored open episodes wait here until the detector reports them again (a restart
        # loses the detector's state, so the same episode comes back under a new id)
        self._carried: dict[str, _OpenEpisode] = {}
        self._alias: dict[str, str] = {}
        self._resumed_at: float | None = None
        self.changes = 0

    # ---- inputs -------------------------------------------------------------------------

    def on_events(
        self, events: Iterable[EpisodeEvent], posture: Posture | str | int | None
    ) -> list[Alert]:
        """Feed episode events (in emission order); returns the alerts due at their times."""
        label = posture_label(posture)
        out: list[Alert] = []
        for event in sorted(events, key=lambda e: e.ts):
            self.changes += 1
            self._note_resumed(event.ts)
            if event.type == "start":
                out.extend(self._start(event, label))
            elif event.type == "end":
                self._end(event.episode)
            else:
                raise ValueError(f"unknown episode event type {event.type!r}")
        return out

    def advance(
        self, events: Iterable[EpisodeEvent], now: float, posture: Posture | str | int | None
    ) -> list[Alert]:
        """Events then a tick at ``now``, all at one posture: for callers without frame timing."""
        return self.on_events(events, posture) + self.tick(now, posture)

    def tick(self, now: float, posture: Posture | str | int | None) -> list[Alert]:
        """Issue what is due at ``now`` for the open episodes (repeats, released holds)."""
        label = posture_label(posture)
        self._note_resumed(now)
        self._judge_open(now)
        out = [a for o in list(self._open.values()) if (a := self._evaluate(o, now, label))]
        self._forget_before(now - RETAIN_S)
        return out

    def episodes_ending(self, stops: Iterable[tuple[str, float, float]]) -> None:
        """Where episodes' conditions stopped: (episode id, since, until), until inf if ongoing.

        An end arrives only after the condition has stayed stopped for a while and is then
        backdated to the stop's start, so while an episode is stopped it may already be over:
        no reminder about it goes out at a time inside one of its stops. Each call replaces the
        stops said before (the caller gives those of the data it is about to tick through).
        """
        ending: dict[str, list[tuple[float, float]]] = {}
        for episode_id, since, until in stops:
            episode_id = self._alias.get(episode_id, episode_id)
            ending.setdefault(episode_id, []).append((float(since), float(until)))
        self._ending = ending

    def snooze(
        self,
        now: float,
        minutes: float | None = None,
        *,
        until_tomorrow: bool = False,
        kinds: Iterable[str] | None = None,
    ) -> float:
        """Hold alerts back for ``minutes`` or until the next local midnight; returns the end."""
        if until_tomorrow == (minutes is not None):
            raise ValueError("snooze needs exactly one of minutes or until_tomorrow")
        if minutes is not None:
            if not minutes > 0:
                raise ValueError(f"snooze minutes must be > 0, got {minutes}")
            until = now + 60.0 * minutes
        else:
            local = datetime.fromtimestamp(now, self.settings.zone)
            midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time())
            until = midnight.replace(tzinfo=self.settings.zone).timestamp()
        self._snooze_until = until
        self._snooze_kinds = None if kinds is None else frozenset(kinds)
        self.changes += 1
        return until

    def clear_snooze(self) -> None:
        self.changes += 1
        self._snooze_until = -math.inf
        self._snooze_kinds = None

    def snapshot(self) -> dict:
        """The whole state as a JSON-able dict with a version (see alerts/policy_state.py)."""
        from posturewatch.alerts.policy_state import snapshot

        return snapshot(self)

    def restore(self, state: dict) -> None:
        """Take over a ``snapshot``; raises ValueError on one of another version or shape."""
        from posturewatch.alerts.policy_state import restore

        restore(self, state)

    # ---- outputs ------------------------------------------------------------------------

    def follow_ups(self) -> list[FollowUp]:
        return list(self._follow_ups)

    def budget(self, now: float) -> BudgetState:
        """The reminder budget of ``now``'s local day: used, remaining, next allowance, spent."""
        return self._budget.state(self.settings, now)

    def take_notices(self) -> list[BudgetExhausted]:
        """Notices raised since the last call (the day's budget ran out), oldest first."""
        notices, self._notices = self._notices, []
        return notices

    def context(self, kind: str, ts: float) -> str:
        """The escalation context of a reminder of ``kind`` at ``ts`` ("forward_head@10:00")."""
        return self._escalation.context(self.settings, kind, ts)

    def cooldown_s(self, kind: str, now: float | None = None) -> float:
        """The kind's cooldown at ``now``, stretched for ``now``'s context (None: the context of
        the kind's last reminder)."""
        at = now if now is not None else self._last_alert_ts.get(kind)
        return self._escalation.cooldown_s(self.settings, kind, at)

    def ignored_in_a_row(self) -> dict[str, int]:
        """Per context, how many of its latest reminders in a row the wearer did not act on."""
        return {k: n for k, n in self._escalation.streaks.items() if n}

    def daily_summary(self, day: date | str) -> AlertDaySummary:
        """Alerts, suppressions and response rates of one local calendar day."""
        key = day if isinstance(day, str) else day.isoformat()
        todays = [f for f in self._follow_ups if self._day(f.alert.ts) == key]
        windows = self.settings.follow_up_windows_s
        broke = {w: sum(f.broke_within(w) for f in todays) for w in windows}
        return AlertDaySummary(
            day=key,
            alerts=len(todays),
            by_kind=dict(Counter(f.alert.kind for f in todays)),
            suppressed=dict(Counter(s.reason for s in self._suppressions if self._day(s.ts) == key)),
            broke_within=broke,
            response_rate={w: (broke[w] / len(todays) if todays else 0.0) for w in windows},
            budget=self.settings.daily_cap,
        )

    # ---- internals ----------------------------------------------------------------------

    def _day(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.settings.zone).date().isoformat()

    def _start(self, event: EpisodeEvent, label: str) -> list[Alert]:
        episode = event.episode
        if episode.id in self._open or episode.id in self._alias:
            return []  # redelivered start: already tracked
        if carried := self._resume(episode):
            alert = self._evaluate(carried, event.ts, label)
            return [alert] if alert else []
        kind = self.settings.for_kind(episode.kind)
        if not kind.enabled:
            self._count(Suppression(event.ts, episode.kind, alert_id(episode.id, 0), "disabled"))
            return []
        first_due = episode.start + kind.delay_s
        tracked = _OpenEpisode(episode, first_due, due=first_due, finished=episode.end is not None)
        self._open[episode.id] = tracked
        alert = self._evaluate(tracked, event.ts, label)
        return [alert] if alert else []

    def _note_resumed(self, ts: float) -> None:
        if not self._carried:
            return
        if self._resumed_at is None:
            self._resumed_at = ts
        elif ts > self._resumed_at + CARRY_S:
            self._carried.clear()

    def _resume(self, episode: Episode) -> _OpenEpisode | None:
        """A restored open episode of this kind that this new start continues, now tracked."""
        carried = next((c for c in self._carried.values() if c.episode.kind == episode.kind), None)
        if carried is None:
            return None
        del self._carried[carried.episode.id]
        resumed = self._resumed_at if self._resumed_at is not None else episode.start
        if episode.start > resumed + RESUME_S:
            return None  # a new episode: the restored one ended while nobody was looking
        self._alias[episode.id] = carried.episode.id
        self._open[carried.episode.id] = carried
        return carried

    def _end(self, episode: Episode) -> None:
        key = self._alias.pop(episode.id, episode.id)
        self._ending.pop(key, None)
        tracked = self._open.pop(key, None)
        if tracked is None or episode.end is None:
            return
        for follow_up in tracked.alerts:
            if tracked.finished:
                follow_up.feedback = True
            elif episode.end > follow_up.alert.ts:
                follow_up.response_s = float(episode.end - follow_up.alert.ts)
            else:
                follow_up.ended_before = True
                self.sent_after_end += 1
            self._judge(follow_up)

    def _evaluate(self, tracked: _OpenEpisode, now: float, label: str) -> Alert | None:
        if now + DUE_TOLERANCE_S < tracked.due:
            return None
        kind = tracked.episode.kind
        cfg = self.settings.for_kind(kind)
        if cfg.repeat_s > 0:
            latest = int((now - tracked.first_due) // cfg.repeat_s)
            tracked.repeat = max(tracked.repeat, latest)
        reason = self._blocked(tracked, now, label)
        if reason:
            if (tracked.repeat, reason) not in tracked.counted:
                tracked.counted.add((tracked.repeat, reason))
                ident = alert_id(tracked.episode.id, tracked.repeat)
                self._count(Suppression(now, kind, ident, reason))
            return None
        title, message = alert_text(tracked.episode, now)
        alert = Alert(
            id=alert_id(tracked.episode.id, tracked.repeat),
            kind=kind,
            title=title,
            message=message,
            severity=cfg.severity,
            ts=now,
            episode_id=tracked.episode.id,
            episode_start=tracked.episode.start,
            episode_end=tracked.episode.end,
            repeat=tracked.repeat,
        )
        self.changes += 1
        follow_up = FollowUp(alert)
        tracked.alerts.append(follow_up)
        self._follow_ups.append(follow_up)
        self._last_alert_ts[kind] = now
        self._unjudged.append(follow_up)
        if notice := self._budget.spend(self.settings, now):
            self._notices.append(notice)
        tracked.repeat += 1
        tracked.due = (
            tracked.first_due + tracked.repeat * cfg.repeat_s if cfg.repeat_s > 0 else math.inf
        )
        return alert

    def _blocked(self, tracked: _OpenEpisode, now: float, label: str) -> str | None:
        settings = self.settings
        kind = tracked.episode.kind
        stops = self._ending.get(tracked.episode.id, ())
        if not tracked.finished and any(a <= now + DUE_TOLERANCE_S < b for a, b in stops):
            return "ending"
        local = datetime.fromtimestamp(now, settings.zone)
        if settings.quiet_hours.contains(local.hour * 60 + local.minute):
            return "quiet_hours"
        if now < self._snooze_until and (
            self._snooze_kinds is None or kind in self._snooze_kinds
        ):
            return "snoozed"
        if budget := self._budget.blocked(settings, now):
            return budget
        cfg = settings.for_kind(kind)
        last = self._last_alert_ts.get(kind)
        if last is not None and now - last < self.cooldown_s(kind, now):
            return "cooldown"
        if cfg.postures and label not in cfg.postures:
            return "posture"
        return None

    def _judge_open(self, now: float) -> None:
        """Reminders still not acted on after the escalation window count as ignored."""
        limit = self.settings.escalation.ignored_after_s
        for follow_up in [f for f in self._unjudged if now - f.alert.ts > limit]:
            self._judge(follow_up)

    def _judge(self, follow_up: FollowUp) -> None:
        """Once per reminder: acted on (resets its context's streak) or ignored (extends it)."""
        if follow_up not in self._unjudged:
            return
        self._unjudged.remove(follow_up)
        self.changes += 1
        if follow_up.feedback or follow_up.ended_before:
            return  # neither acted on nor ignored: nothing the wearer could respond to
        response = follow_up.response_s
        acted = response is not None and response <= self.settings.escalation.ignored_after_s
        self._escalation.judged(self.settings, follow_up.alert.kind, follow_up.alert.ts, acted)

    def _count(self, suppression: Suppression) -> None:
        self.changes += 1
        self.suppressed[suppression.reason] += 1
        self._suppressions.append(suppression)

    def _forget_before(self, cutoff: float) -> None:
        if self._follow_ups and self._follow_ups[0].alert.ts < cutoff:
            self._follow_ups = [f for f in self._follow_ups if f.alert.ts >= cutoff]
        if self._suppressions and self._suppressions[0].ts < cutoff:
            self._suppressions = [s for s in self._suppressions if s.ts >= cutoff]
        self._budget.forget_before(self._day(cutoff))
