"""A store of ten synthetic wear days written straight through ``SqliteStore`` (fast), with the
figures each day was built to have, so a trends report can be checked against known numbers.

Day ``i`` (from ``FIRST``): worn 08:00–18:00 UTC in cycles of ``sit_min(i)`` minutes sitting (the
first ``TILT_MIN`` of them slumped), 3 minutes standing and 2 walking; a forward-head episode
of 4 minutes in every cycle, ``i % 3 + 1`` back bends, one reminder per long spell. Day 3 is worn
for 30 minutes only (too little to count).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np

from posturewatch.alerts.records import Alert
from posturewatch.analytics.records import Episode, Posture
from posturewatch.store.rollup import Seconds
from posturewatch.store.sqlite import SqliteStore, day_bounds

FIRST = date(2026, 3, 2)
N_DAYS = 10
TILT_MIN = 5
SHORT_DAY = 3
USER = "ann"


def day_name(i: int) -> str:
    return (FIRST + timedelta(days=i)).isoformat()


def sit_min(i: int) -> int:
    return 20 + 5 * i


def _day_rows(i: int) -> tuple[np.ndarray, np.ndarray, list[Episode], list[tuple[Alert, float]]]:
    start = day_bounds(day_name(i), "UTC")[0] + 8 * 3600
    wear_s = 1800 if i == SHORT_DAY else 10 * 3600
    cycle = [(Posture.SITTING, sit_min(i) * 60), (Posture.STANDING, 180), (Posture.WALKING, 120)]
    pattern = np.concatenate([np.full(n, int(p), np.int8) for p, n in cycle])
    codes = np.resize(pattern, wear_s)
    t = (start + np.arange(wear_s)).astype(np.int64)
    episodes, alerts = [], []
    period = len(pattern)
    for k, c0 in enumerate(range(0, wear_s, period)):
        cs = start + c0
        sit_end = min(cs + sit_min(i) * 60, start + wear_s)
        episodes.append(Episode("posterior_tilt", cs, cs + 60, min(cs + TILT_MIN * 60, sit_end), -20, -18))
        fh = cs + 600
        if fh + 240 <= sit_end:
            episodes.append(Episode("forward_head", fh, fh + 60, fh + 240, 30, 25))
        if sit_end - cs >= 1800:
            long = Episode("prolonged_sitting", cs, cs + 1800, sit_end, sit_min(i), sit_min(i))
            episodes.append(long)
            alert = Alert(f"a{i}-{k}", "prolonged_sitting", "Time to stand up", "Stand up for a minute.",
                          "info", cs + 1800, long.id, cs, sit_end)
            alerts.append((alert, 60.0 if k % 2 == 0 else 900.0))
    bend_at = start + sit_min(i) * 60 + 10
    for b in range(i % 3 + 1):
        s = bend_at + b * 30
        if s + 10 <= start + wear_s:
            episodes.append(Episode("lumbar_bend", s, s, s + 10, 50, 45))
    return t, codes, episodes, alerts


def write_store(folder: Path, summary: bool = True) -> dict[str, dict[str, float]]:
    """The store under ``folder``; returns each day's daily_summary values as written."""
    store = SqliteStore(Path(folder) / "store.db")
    written = {}
    try:
        for i in range(N_DAYS):
            t, codes, episodes, alerts = _day_rows(i)
            nan = np.full(len(t), np.nan)
            store.write_angles(USER, Seconds(t, {"pelvic_tilt": nan}, codes))
            for e in episodes:
                store.write_episode(USER, e)
            for alert, response in alerts:
                store.write_alert(USER, alert, response)
            values = {"sitting_min": float((codes == int(Posture.SITTING)).sum()) / 60.0,
                      "monitored_min": len(t) / 60.0, "alerts": float(len(alerts)),
                      "steps": 1000.0 + 100 * i}
            if alerts:
                values["response_rate_300s"] = sum(r <= 300 for _, r in alerts) / len(alerts)
            if summary:
                store.write_daily_summary(USER, day_name(i), values)
            written[day_name(i)] = values
    finally:
        store.close()
    return written
