"""A simulated day of reminders through a real ``AlertPolicy`` (shared by the web and report tests).

``forward_head_day``: a forward-head episode every 20 min from 08:05 until ``hours`` after 08:00,
each corrected 2 min after its reminder (10 min after its start when none came); the policy is
ticked every 5 s of data time. Returns the policy, its budget at each of ``at`` (seconds after
08:00) and at the end, the alerts it sent and the notices it raised.
"""

from __future__ import annotations

from dataclasses import dataclass

from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.records import Alert, BudgetExhausted, BudgetState
from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.records import Episode, EpisodeEvent
from posturewatch.simulators.config import parse_start


@dataclass
class PolicyDay:
    policy: AlertPolicy
    states: list[BudgetState]  # at each requested time, then at the end
    alerts: list[Alert]
    notices: list[BudgetExhausted]
    episodes: list[Episode]  # ended ones, as the store holds them


def forward_head_day(day: str, settings: AlertSettings, hours: float = 13.0,
                     at: tuple[float, ...] = ()) -> PolicyDay:
    policy = AlertPolicy(settings)
    morning = parse_start(f"{day}T08:00:00Z")
    t, starts = morning, [morning + 300 + 1200 * k for k in range(int(hours * 3))]
    marks = sorted(at)
    states: list[BudgetState] = []
    alerts: list[Alert] = []
    ended: list[Episode] = []
    open_episode: Episode | None = None
    sent_at: float | None = None
    while t <= morning + hours * 3600:
        new: list[Alert] = []
        if starts and t >= starts[0] + 30:
            open_episode = Episode("forward_head", starts.pop(0), t)
            new += policy.on_events([EpisodeEvent("start", open_episode, t)], "sitting")
        new += policy.tick(t, "sitting")
        if new:
            sent_at = new[0].ts
            alerts += new
        if open_episode is not None and t >= (sent_at or open_episode.start + 480) + 120:
            done = Episode("forward_head", open_episode.start, open_episode.confirmed, t)
            policy.on_events([EpisodeEvent("end", done, t + 5)], "sitting")
            ended.append(done)
            open_episode, sent_at = None, None
        while marks and t >= morning + marks[0]:
            marks.pop(0)
            states.append(policy.budget(t))
        t += 5.0
    states.append(policy.budget(t))
    return PolicyDay(policy, states, alerts, policy.take_notices(), ended)
