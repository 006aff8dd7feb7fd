"""The numbers of a daily report, from one day of 1 Hz posture/angles plus episodes and alerts.

``DayData`` is the neutral input (the app fills it from the embedded store or a replay's CSVs);
``day_stats`` turns it into ``DayStats``: time per posture, sitting bouts and the breaks between
them, angle distributions per posture, episodes per kind, alert responses, and the kinetic chain
(forward-head episodes preceded by a posterior pelvic tilt). No plotting and no I/O here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from posturewatch.analytics.posture import runs
from posturewatch.analytics.records import EPISODE_KINDS, Posture

# a sitting bout ends only at this much time out of the chair (prolonged sitting, docs/architecture.md)
BREAK_MIN_S = 60.0
LONG_BOUT_S = 30 * 60.0
RESPONSE_WINDOW_S = 300.0
DISTRIBUTION_POSTURES = (Posture.SITTING, Posture.STANDING)
DISTRIBUTION_ANGLES = ("pelvic_tilt", "trunk_inclination", "lumbar_flexion")


@dataclass(frozen=True, slots=True)
class ReportEpisode:
    kind: str
    start: float
    end: float | None
    peak: float = math.nan
    mean: float = math.nan

    @property
    def duration_s(self) -> float:
        return math.nan if self.end is None else self.end - self.start


@dataclass(frozen=True, slots=True)
class ReportAlert:
    ts: float
    kind: str
    title: str
    severity: str = "info"
    response_s: float | None = None


@dataclass
class DayData:
    """One wearer's local day. ``t`` whole Unix seconds (sorted), ``posture`` codes, ``angles``
    name → degrees (NaN = missing). ``summary`` is the store's daily summary (empty if none);
    ``responses_known`` is False when the source cannot tell how the wearer responded;
    ``mountings`` the day's changes to the sensors' mountings (slips followed, sensors put back)."""

    user: str
    day: str
    tz: str
    t: np.ndarray
    posture: np.ndarray
    angles: dict[str, np.ndarray]
    episodes: list[ReportEpisode] = field(default_factory=list)
    alerts: list[ReportAlert] = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)
    responses_known: bool = True
    source: str = ""
    reminder_budget: int | None = None  # the day's cap (0: none; None: not known)
    mountings: list[tuple[float, str]] = field(default_factory=list)  # (time, note): slips followed…


@dataclass(frozen=True, slots=True)
class Bout:
    start: float
    end: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class AngleSummary:
    n: int
    median: float
    p10: float
    p90: float


@dataclass
class ChainLink:
    forward_head: ReportEpisode
    tilt: ReportEpisode | None

    @property
    def lead_s(self) -> float:
        """How long before the forward-head episode the tilt began (NaN without one)."""
        return math.nan if self.tilt is None else self.forward_head.start - self.tilt.start


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """How the day's reminder budget was used: ``used`` of ``budget`` sent; ``spent_at`` the time
    of the reminder that used the last of it (None while some is left); ``held_paced``/
    ``held_spent`` the reminders held back for the spread over the day and after the budget was
    spent (None when the day's summary is not written yet, i.e. the day is still running)."""

    budget: int
    used: int
    spent_at: float | None
    held_paced: int | None
    held_spent: int | None

    @property
    def left(self) -> int:
        return max(0, self.budget - self.used)


@dataclass
class DayStats:
    first: float
    last: float
    monitored_s: float
    posture_s: dict[str, float]
    bouts: list[Bout]
    breaks: list[Bout]
    distributions: dict[str, dict[str, np.ndarray]]
    angle_summary: dict[str, dict[str, AngleSummary]]
    episodes_by_kind: dict[str, int]
    episode_minutes: dict[str, float]
    alerts_by_kind: dict[str, int]
    alerts_total: int
    responded: int | None
    response_rate: float | None
    chain: list[ChainLink]
    chain_minutes: float
    budget: BudgetUse | None = None

    @property
    def sitting_s(self) -> float:
        return self.posture_s.get("sitting", 0.0)

    @property
    def longest_bout(self) -> Bout | None:
        return max(self.bouts, key=lambda b: b.duration_s, default=None)

    @property
    def long_bouts(self) -> int:
        return sum(b.duration_s >= LONG_BOUT_S for b in self.bouts)

    @property
    def chained(self) -> int:
        return sum(link.tilt is not None for link in self.chain)


def hm(seconds: float) -> str:
    """A duration for people: "45 s", "12 min", "1 h 05 min"."""
    if not math.isfinite(seconds):
        return "–"
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    h, m = divmod(int(round(seconds / 60)), 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


def headline_facts(s: DayStats, tz: str = "UTC") -> list[str]:
    """The day in two sentences (the PNG's header; the HTML has the full summary box)."""
    share = s.sitting_s / s.monitored_s * 100 if s.monitored_s else 0.0
    longest = s.longest_bout
    first = (f"Sitting {hm(s.sitting_s)} of {hm(s.monitored_s)} ({share:.0f} %)"
             f" · longest bout {hm(longest.duration_s) if longest else '–'}"
             f" · {s.long_bouts} bouts over 30 min · {len(s.breaks)} breaks")
    names = {"prolonged_sitting": "long sitting", "posterior_tilt": "pelvis back",
             "forward_head": "head forward", "lumbar_bend": "back bends"}
    episodes = ", ".join(f"{names.get(k, k)} {n}" for k, n in s.episodes_by_kind.items())
    acted = "n/a" if s.response_rate is None else f"{s.response_rate * 100:.0f} %"
    second = f"Episodes: {episodes}"
    sent = budget_words(s.budget, tz) if s.budget is not None else f"Reminders {s.alerts_total}"
    third = (f"{sent}, acted on {acted}"
             f" · head forward after a pelvic tilt: {s.chained} of {len(s.chain)}")
    return [first, second, third]


def budget_words(b: BudgetUse, tz: str = "UTC") -> str:
    """"Reminders 12 of 12 (all used by 20:44; 5 more held back)" — the budget's use in words."""
    if not b.budget:
        return f"Reminders {b.used} (no daily limit)"
    held = [f"{n} held back to spread them over the day" for n in (b.held_paced,) if n] + \
           [f"{n} more held back after that" for n in (b.held_spent,) if n]
    if b.spent_at is not None:
        at = datetime.fromtimestamp(b.spent_at, ZoneInfo(tz)).strftime("%H:%M")
        state = f"all used by {at}"
    else:
        state = f"{b.left} left"
    return f"Reminders {b.used} of {b.budget} ({'; '.join([state, *held])})"


def budget_use(data: DayData) -> BudgetUse | None:
    """The day's reminder budget from the store's alerts and day summary (None: cap not known)."""
    stored = data.summary.get("reminder_budget")
    budget = int(stored) if stored is not None and math.isfinite(stored) else data.reminder_budget
    if budget is None:
        return None
    sent = sorted(a.ts for a in data.alerts)
    spent_at = sent[budget - 1] if budget and len(sent) >= budget else None
    finished = bool(data.summary)  # the day's summary holds its hold-backs

    def held(reason: str) -> int | None:
        return int(data.summary.get(f"suppressed_{reason}", 0)) if finished else None

    return BudgetUse(budget, len(sent), spent_at, held("budget_paced"), held("daily_cap"))


def _dense(data: DayData) -> tuple[float, np.ndarray]:
    """Posture on a gap-free 1 s grid from the first to the last second (missing = unknown)."""
    if not len(data.t):
        return math.nan, np.zeros(0, np.int8)
    t = np.asarray(data.t, dtype=np.int64)
    grid = np.full(int(t[-1] - t[0]) + 1, int(Posture.UNKNOWN), np.int8)
    grid[t - t[0]] = np.asarray(data.posture, dtype=np.int8)
    return float(t[0]), grid


def sitting_bouts(
    t0: float, grid: np.ndarray, break_min_s: float = BREAK_MIN_S
) -> tuple[list[Bout], list[Bout]]:
    """Sitting bouts (interruptions shorter than ``break_min_s`` bridged) and the breaks between."""
    sitting = (grid == int(Posture.SITTING)).astype(np.int8)
    starts, lengths, values = runs(sitting)
    # bridge short gaps between two sitting runs: a stretch, a reach, a packet gap
    bridge = (values == 0) & (lengths < break_min_s) & (starts > 0) & (starts + lengths < len(grid))
    sitting = np.repeat((values == 1) | bridge, lengths).astype(np.int8)
    starts, lengths, values = runs(sitting)
    bouts = [Bout(t0 + a, t0 + a + n) for a, n, v in zip(starts.tolist(), lengths.tolist(),
                                                         values.tolist(), strict=True) if v]
    breaks = [Bout(a.end, b.start) for a, b in zip(bouts, bouts[1:], strict=False)]
    return bouts, breaks


def kinetic_chain(episodes: list[ReportEpisode], minutes: float) -> list[ChainLink]:
    """Each forward-head episode, with the posterior-tilt episode that led into it if any.

    A tilt leads into it when it began before the forward-head episode and was still going, or
    had ended at most ``minutes`` before it began; the most recent such tilt is taken.
    """
    window = minutes * 60.0
    tilts = sorted((e for e in episodes if e.kind == "posterior_tilt"), key=lambda e: e.start)
    links = []
    for fh in sorted((e for e in episodes if e.kind == "forward_head"), key=lambda e: e.start):
        candidates = [
            tilt for tilt in tilts
            if tilt.start <= fh.start and (tilt.end is None or tilt.end >= fh.start - window)
        ]
        links.append(ChainLink(fh, candidates[-1] if candidates else None))
    return links


def _angle_summary(values: np.ndarray) -> AngleSummary:
    v = values[np.isfinite(values)]
    if not len(v):
        return AngleSummary(0, math.nan, math.nan, math.nan)
    p10, med, p90 = np.percentile(v, [10, 50, 90])
    return AngleSummary(len(v), float(med), float(p10), float(p90))


def _responses(data: DayData, total: int) -> tuple[int | None, float | None]:
    if not data.responses_known:
        return None, None
    window = int(RESPONSE_WINDOW_S)
    key = f"response_rate_{window}s"
    known = [a for a in data.alerts if a.response_s is not None]
    responded = sum(a.response_s <= RESPONSE_WINDOW_S for a in known)
    if key in data.summary and total:
        rate = float(data.summary[key])
        return round(rate * total), rate
    if not total:
        return 0, None
    return responded, responded / total


def day_stats(data: DayData, chain_minutes: float = 15.0) -> DayStats:
    t0, grid = _dense(data)
    codes = np.asarray(data.posture, dtype=np.int64)
    counts = np.bincount(codes, minlength=len(Posture)) if len(codes) else np.zeros(len(Posture))
    posture_s = {p.label: float(counts[int(p)]) for p in Posture if counts[int(p)]}
    bouts, breaks = sitting_bouts(t0, grid) if len(grid) else ([], [])
    distributions: dict[str, dict[str, np.ndarray]] = {}
    summary: dict[str, dict[str, AngleSummary]] = {}
    for p in DISTRIBUTION_POSTURES:
        mask = codes == int(p)
        distributions[p.label] = {
            a: np.asarray(data.angles[a], float)[mask] for a in DISTRIBUTION_ANGLES if a in data.angles
        }
        summary[p.label] = {a: _angle_summary(v) for a, v in distributions[p.label].items()}
    finished = [e for e in data.episodes if e.end is not None]
    by_kind = Counter(e.kind for e in data.episodes)
    minutes = {k: sum(e.duration_s for e in finished if e.kind == k) / 60.0 for k in by_kind}
    alerts_by_kind = Counter(a.kind for a in data.alerts)
    total = len(data.alerts)
    responded, rate = _responses(data, total)
    return DayStats(
        first=float(data.t[0]) if len(data.t) else math.nan,
        last=float(data.t[-1]) + 1.0 if len(data.t) else math.nan,
        monitored_s=float(np.sum(codes != int(Posture.UNKNOWN))),
        posture_s=posture_s,
        bouts=bouts,
        breaks=breaks,
        distributions=distributions,
        angle_summary=summary,
        episodes_by_kind={k: by_kind.get(k, 0) for k in EPISODE_KINDS},
        episode_minutes={k: minutes.get(k, 0.0) for k in EPISODE_KINDS},
        alerts_by_kind=dict(alerts_by_kind),
        alerts_total=total,
        responded=responded,
        response_rate=rate,
        chain=kinetic_chain(data.episodes, chain_minutes),
        chain_minutes=chain_minutes,
        budget=budget_use(data),
    )
