"""Alert policy: from episode events to alerts a person can live with.

Per episode kind an alert falls due ``delay_s`` after the (backdated) episode start and, when
``repeat_s`` > 0, again every ``repeat_s`` while the episode stays open (prolonged sitting).
A due alert goes out unless something blocks it — quiet hours, a snooze, the daily cap, the
kind's cooldown, or the wearer's current posture. A blocked alert stays pending while its
episode is open and is tried again on every ``tick``; reminders missed meanwhile are skipped,
never sent in a burst. Each hold-back is counted once per alert and reason.

Time only ever comes in as arguments (event timestamps, ``now``), so a replay of the same
events gives the same alerts with the same ids.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from posturewatch.alerts.records import Alert, AlertDaySummary, FollowUp, Suppression, alert_id
from posturewatch.alerts.settings import AlertSettings
from posturewatch.alerts.texts import alert_text
from posturewatch.analytics.records import Episode, EpisodeEvent, Posture

# follow-ups and suppressions older than this are forgotten (the day summary needs one day)
RETAIN_S = 8 * 86400.0

# a start event confirmed at start + sustain must count as due despite float rounding
DUE_TOLERANCE_S = 1e-6


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


class AlertPolicy:
    """Turns ``EpisodeEvent``s (plus the current posture and time) into ``Alert``s."""

    def __init__(self, settings: AlertSettings | None = None) -> None:
        self.settings = settings or AlertSettings()
        self._open: dict[str, _OpenEpisode] = {}
        self._last_alert_ts: dict[str, float] = {}
        self._per_day: Counter[str] = Counter()
        self._follow_ups: list[FollowUp] = []
        self._suppressions: list[Suppression] = []
        self.suppressed: Counter[str] = Counter()
        self._snooze_until = -math.inf
        self._snooze_kinds: frozenset[str] | None = None

    # ---- inputs -------------------------------------------------------------------------

    def on_events(
        self, events: Iterable[EpisodeEvent], posture: Posture | str | int | None
    ) -> list[Alert]:
        """Feed episode events (in emission order); returns the alerts due at their times."""
        label = posture_label(posture)
        out: list[Alert] = []
        for event in sorted(events, key=lambda e: e.ts):
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
        out = [a for o in list(self._open.values()) if (a := self._evaluate(o, now, label))]
        self._forget_before(now - RETAIN_S)
        return out

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
        return until

    def clear_snooze(self) -> None:
        self._snooze_until = -math.inf
        self._snooze_kinds = None

    # ---- outputs ------------------------------------------------------------------------

    def follow_ups(self) -> list[FollowUp]:
        return list(self._follow_ups)

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
        )

    # ---- internals ----------------------------------------------------------------------

    def _day(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.settings.zone).date().isoformat()

    def _start(self, event: EpisodeEvent, label: str) -> list[Alert]:
        episode = event.episode
        if episode.id in self._open:
            return []  # redelivered start: already tracked
        kind = self.settings.for_kind(episode.kind)
        if not kind.enabled:
            self._count(Suppression(event.ts, episode.kind, alert_id(episode.id, 0), "disabled"))
            return []
        first_due = episode.start + kind.delay_s
        tracked = _OpenEpisode(episode, first_due, due=first_due)
        self._open[episode.id] = tracked
        alert = self._evaluate(tracked, event.ts, label)
        return [alert] if alert else []

    def _end(self, episode: Episode) -> None:
        tracked = self._open.pop(episode.id, None)
        if tracked is None or episode.end is None:
            return
        for follow_up in tracked.alerts:
            follow_up.response_s = max(0.0, episode.end - follow_up.alert.ts)

    def _evaluate(self, tracked: _OpenEpisode, now: float, label: str) -> Alert | None:
        if now + DUE_TOLERANCE_S < tracked.due:
            return None
        kind = tracked.episode.kind
        cfg = self.settings.for_kind(kind)
        if cfg.repeat_s > 0:
            latest = int((now - tracked.first_due) // cfg.repeat_s)
            tracked.repeat = max(tracked.repeat, latest)
        reason = self._blocked(kind, now, label)
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
        follow_up = FollowUp(alert)
        tracked.alerts.append(follow_up)
        self._follow_ups.append(follow_up)
        self._last_alert_ts[kind] = now
        self._per_day[self._day(now)] += 1
        tracked.repeat += 1
        tracked.due = (
            tracked.first_due + tracked.repeat * cfg.repeat_s if cfg.repeat_s > 0 else math.inf
        )
        return alert

    def _blocked(self, kind: str, now: float, label: str) -> str | None:
        settings = self.settings
        local = datetime.fromtimestamp(now, settings.zone)
        if settings.quiet_hours.contains(local.hour * 60 + local.minute):
            return "quiet_hours"
        if now < self._snooze_until and (
            self._snooze_kinds is None or kind in self._snooze_kinds
        ):
            return "snoozed"
        if settings.daily_cap and self._per_day[local.date().isoformat()] >= settings.daily_cap:
            return "daily_cap"
        cfg = settings.for_kind(kind)
        last = self._last_alert_ts.get(kind)
        if last is not None and now - last < cfg.cooldown_s:
            return "cooldown"
        if cfg.postures and label not in cfg.postures:
            return "posture"
        return None

    def _count(self, suppression: Suppression) -> None:
        self.suppressed[suppression.reason] += 1
        self._suppressions.append(suppression)

    def _forget_before(self, cutoff: float) -> None:
        if self._follow_ups and self._follow_ups[0].alert.ts < cutoff:
            self._follow_ups = [f for f in self._follow_ups if f.alert.ts >= cutoff]
        if self._suppressions and self._suppressions[0].ts < cutoff:
            self._suppressions = [s for s in self._suppressions if s.ts >= cutoff]
        cutoff_day = self._day(cutoff)
        for day in [d for d in self._per_day if d < cutoff_day]:
            del self._per_day[day]
