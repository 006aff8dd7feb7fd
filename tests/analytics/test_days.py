"""Local days of a stream: frames split at local midnight, 23 h and 25 h days included."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from posturewatch.analytics.days import DayTracker, day_start
from posturewatch.analytics.records import Posture

BERLIN = ZoneInfo("Europe/Berlin")


def _frames(t0: float, t1: float, code: Posture) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(round(t0 * 10), round(t1 * 10)) / 10
    return t, np.full(len(t), int(code), np.int8)


@pytest.mark.parametrize(("day", "hours"), [("2026-03-29", 23), ("2026-10-25", 25), ("2026-06-01", 24)])
def test_a_whole_local_day_has_its_real_length(day: str, hours: int) -> None:
    start = day_start(day, BERLIN)
    end = day_start(datetime.fromisoformat(day).replace(day=int(day[-2:]) + 1).date().isoformat(), BERLIN)
    tracker = DayTracker(BERLIN)
    ended = []
    for a in np.arange(start - 3600, end + 3600, 600.0):  # blocks of 10 min, an hour either side
        ended += tracker.add(*_frames(a, a + 600, Posture.SITTING))
    days = {d.day: d for d in ended}
    assert days[day].monitored_s == pytest.approx(hours * 3600)
    assert days[day].sitting_s == pytest.approx(hours * 3600)
    assert tracker.current.day > day


def test_postures_and_monitored_time_are_counted_apart() -> None:
    t0 = day_start("2026-06-01", BERLIN) + 8 * 3600
    tracker = DayTracker(BERLIN)
    tracker.add(*_frames(t0, t0 + 600, Posture.SITTING))
    tracker.add(*_frames(t0 + 600, t0 + 900, Posture.NOT_WORN))
    tracker.add(*_frames(t0 + 900, t0 + 960, Posture.UNKNOWN))
    tracker.add(*_frames(t0 + 960, t0 + 1020, Posture.WALKING))
    (day,) = tracker.finish()
    values = day.values()
    assert values["sitting_s"] == pytest.approx(600) and values["walking_s"] == pytest.approx(60)
    assert values["not_worn_s"] == pytest.approx(300)
    assert values["monitored_min"] == pytest.approx(11.0)  # not worn and no data are not wear time
    assert tracker.current is None and tracker.finish() == []
