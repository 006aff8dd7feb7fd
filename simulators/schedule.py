"""The day plan of the synthetic wearer: which activity when, seeded and deterministic.

A working day alternates desk sitting (20–90 min, never within 3 min of the 30 min limit) with
breaks of standing and walking, and holds one lie-down of 15–30 min near its middle. Days longer
than 16 h continue with an evening (sofa sitting, chores) and end with a night of sleep in lying.
``plan_day`` returns a ``Plan``: the body's ``Motion`` plus the posture label timeline and the
event log that ``meta.json`` reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from posturewatch.simulators.activities import Choreographer
from posturewatch.simulators.trajectory import GaitBouts, Motion, Wander

POSTURE_CODES: dict[str, int] = {"unknown": 0, "lying": 1, "sitting": 2, "standing": 3, "walking": 4}
"""Posture label → code, the same numbering as ``analytics.records.Posture``."""

OFFICE_HOURS = 9.0
WANDER_AMPLITUDE: dict[str, float] = {  # max total amplitude (degrees) of the slow wander
    "heading": 2.0, "theta_pelvis": 1.2, "theta_thigh": 1.0, "theta_thorax": 1.2, "neck": 1.5,
    "roll_pelvis": 1.0, "roll_thigh": 1.0, "roll_thorax": 1.0, "roll_head": 1.0,
}


@dataclass
class Plan:
    """The planned day: motion functions, posture label change points and the event log."""

    motion: Motion
    label_times: np.ndarray  # (L,) Unix seconds at which the label changes
    label_codes: np.ndarray  # (L,) posture codes from those times on
    events: list[dict]
    start: float
    end: float

    def posture_codes(self, t: np.ndarray) -> np.ndarray:
        """Posture code in force at each time."""
        i = np.clip(np.searchsorted(self.label_times, t, side="right") - 1, 0, None)
        return self.label_codes[i]


def _sitting_minutes(rng: np.random.Generator) -> float:
    # bouts are clearly shorter or clearly longer than the 30 min prolonged-sitting limit
    return float(rng.uniform(20, 27) if rng.random() < 0.25 else rng.uniform(33, 90))


def _standing_minutes(rng: np.random.Generator) -> float:
    return float(rng.uniform(1.2, 4) if rng.random() < 0.7 else rng.uniform(4, 10))


def _walking_minutes(rng: np.random.Generator) -> float:
    return float(rng.uniform(1.2, 5) if rng.random() < 0.7 else rng.uniform(5, 15))


def _break(ch: Choreographer, until: float) -> None:
    """Stand up, a mix of standing and walking (≥ 70 s in all), sit down again."""
    ch.stand_up()
    order = [["walk"], ["stand"], ["walk", "stand"], ["stand", "walk"], ["stand", "walk", "stand"]]
    for part in order[int(ch.rng.integers(len(order)))]:
        minutes = _walking_minutes(ch.rng) if part == "walk" else _standing_minutes(ch.rng)
        seconds = min(60.0 * minutes, until - ch.now)
        if seconds < 70.0:
            break
        if part == "walk":
            ch.walking(seconds)
        else:
            ch.standing(seconds)


def _office(ch: Choreographer, end: float, sofa: bool = False) -> None:
    """Desk sitting bouts alternating with breaks; one lie-down around the middle."""
    begin = ch.now
    lie_at = begin + 0.45 * (end - begin) if end - begin >= 2 * 3600 and not sofa else None
    ch.walking(ch.u(80, 180))  # arriving
    ch.standing(ch.u(60, 120))
    while end - ch.now > 120.0:
        if lie_at is not None and ch.now >= lie_at:
            lie_at = None
            minutes = ch.u(15, 30)
            if ch.rng.random() < 0.1:
                ch.lying_prone(60.0 * minutes)
            else:
                ch.lying(60.0 * minutes)
            ch.standing(ch.u(60, 120))
            continue
        ch.sit_down()
        sit = min(60.0 * _sitting_minutes(ch.rng), end - ch.now - 10.0)
        if 27 * 60 < sit < 33 * 60:  # cut short by the end of the day: stay clear of 30 min
            sit = 26 * 60.0
        ch.desk_sitting(sit)
        if end - ch.now < 100.0:
            break
        _break(ch, end - 10.0)
    if end > ch.now:
        ch.hold(end - ch.now)


def plan_day(seed: int, start: float, hours: float) -> Plan:
    """Plan ``hours`` of the wearer's day from ``start`` with the seeded body-motion stream."""
    rng = np.random.default_rng([int(seed), 1])
    end = start + hours * 3600.0
    ch = Choreographer(rng, start, heading=float(rng.uniform(0, 360)))
    if hours <= 16.0:
        _office(ch, end)
    else:
        sleep_h = min(8.0, hours - 16.0)
        _office(ch, start + OFFICE_HOURS * 3600.0)
        _office(ch, end - sleep_h * 3600.0, sofa=True)
        if end - ch.now > 300.0:
            ch.event("sleep")
            ch.lying(end - ch.now - 120.0, change_every=(1200, 5400))
    wander = {
        name: Wander(amp=rng.uniform(0.2, 0.4, 3) * amp / 1.2,
                     freq=rng.uniform(1 / 300, 1 / 20, 3), phase=rng.uniform(0, 2 * np.pi, 3))
        for name, amp in WANDER_AMPLITUDE.items()
    }
    gait = np.array(ch.gait, dtype=float).reshape(-1, 4)
    bouts = GaitBouts(start=gait[:, 0], stride_hz=gait[:, 1], speed=gait[:, 2], phase=gait[:, 3])
    label_times = np.array([t for t, _ in ch.labels])
    label_codes = np.array([POSTURE_CODES[name] for _, name in ch.labels], dtype=np.int8)
    return Plan(Motion(ch.tracks, bouts, wander, origin=start, end=max(end, ch.now)),
                label_times, label_codes,
                ch.events, start, end)


def plan_script(seed: int, start: float, hours: float,
                script: Callable[[Choreographer], None]) -> Plan:
    """A plan whose activities ``script`` chooses (tests of particular situations); the body's
    wander and gait come from ``seed`` as in ``plan_day``. Time left after the script is held."""
    rng = np.random.default_rng([int(seed), 1])
    end = start + hours * 3600.0
    ch = Choreographer(rng, start, heading=float(rng.uniform(0, 360)))
    script(ch)
    if end > ch.now:
        ch.hold(end - ch.now)
    wander = {
        name: Wander(amp=rng.uniform(0.2, 0.4, 3) * amp / 1.2,
                     freq=rng.uniform(1 / 300, 1 / 20, 3), phase=rng.uniform(0, 2 * np.pi, 3))
        for name, amp in WANDER_AMPLITUDE.items()
    }
    gait = np.array(ch.gait, dtype=float).reshape(-1, 4)
    bouts = GaitBouts(start=gait[:, 0], stride_hz=gait[:, 1], speed=gait[:, 2], phase=gait[:, 3])
    return Plan(Motion(ch.tracks, bouts, wander, origin=start, end=max(end, ch.now)),
                np.array([t for t, _ in ch.labels]),
                np.array([POSTURE_CODES[name] for _, name in ch.labels], dtype=np.int8),
                ch.events, start, end)
