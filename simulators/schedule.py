"""The day plan of the synthetic wearer: which activity when, seeded and deterministic.

A working day alternates desk sitting (20–90 min, never within 3 min of the 30 min limit) with
breaks of standing and walking, and holds one lie-down of 15–30 min near its middle. Days longer
than 16 h continue with an evening (sofa sitting, chores) and end with a night of sleep in lying.
With ``days`` the plan is whole days instead: morning, commute, office, evening and a night in bed
each (``everyday``); ``Wear`` switches add naps, sensors taken off, short bouts. Without any of
them the seeded draws are exactly those of the plain day. ``plan_day`` returns a ``Plan``: the
body's ``Motion`` plus the posture label timeline and the event log that ``meta.json`` reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from posturewatch.simulators.activities import Choreographer
from posturewatch.simulators.config import Wear
from posturewatch.simulators.everyday import (
    PLACEMENTS_ONE,
    PLACEMENTS_SEATED,
    nap,
    night,
    sensor_off_seated,
    sensors_off,
    short_bout,
)
from posturewatch.simulators.trajectory import Breathing, GaitBouts, Motion, Wander

POSTURE_CODES: dict[str, int] = {"unknown": 0, "lying": 1, "sitting": 2, "standing": 3, "walking": 4,
                                 "not_worn": 8}
"""Posture label → code, the same numbering as ``analytics.records.Posture``."""
NOT_WORN = POSTURE_CODES["not_worn"]
DAY_S = 86400.0
BED_HOURS = (22.5, 23.5)  # UTC clock hour of going to bed
RISE_HOURS = (6.25, 7.5)

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
    transitions: list[tuple[str, float, float]] = field(default_factory=list)
    in_bed: list[tuple[float, float]] = field(default_factory=list)
    nonwear: list[dict] = field(default_factory=list)
    cuts: list[float] = field(default_factory=list)  # instants where no episode or bout is open

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


def _break(ch: Choreographer, until: float, wear: Wear | None = None) -> None:
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
    if wear is not None and wear.short_bouts and until - ch.now > 60.0 and ch.rng.random() < 0.5:
        short_bout(ch)


def _office(ch: Choreographer, end: float, sofa: bool = False, wear: Wear | None = None,
            off_break: bool = False) -> None:
    """Desk sitting bouts alternating with breaks; one lie-down around the middle; with
    ``off_break`` one break (at ~60 %) takes the sensors off for 10–40 min; with
    ``wear.seated_off`` one sensor is taken off for 15–35 min while sitting on (at ~25 %)."""
    begin = ch.now
    seated_at = begin + 0.25 * (end - begin) if wear is not None and wear.seated_off \
        and end - begin >= 3600 else None
    lie_at = begin + 0.45 * (end - begin) if end - begin >= 2 * 3600 and not sofa else None
    off_at = begin + 0.6 * (end - begin) if off_break and end - begin >= 3600 else None
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
        if off_at is not None and ch.now >= off_at and end - ch.now > 20 * 60:
            off_at = None
            placement = str(ch.rng.choice(["table", "chair", "charger", "bag"]))
            sensors_off(ch, min(60.0 * ch.u(10, 40), end - ch.now - 600.0), placement)
            continue
        if seated_at is not None and ch.now >= seated_at and end - ch.now > 45 * 60:
            seated_at = None
            ch.sit_down()
            ch.desk_sitting(ch.u(60, 180))
            sensor_off_seated(ch, 60.0 * ch.u(15, 35), str(ch.rng.choice(["pelvis", "thigh", "thorax"])),
                              str(ch.rng.choice(PLACEMENTS_SEATED)))
            _break(ch, end - 10.0, wear)
            continue
        ch.sit_down()
        sit = min(60.0 * _sitting_minutes(ch.rng), end - ch.now - 10.0)
        if off_at is not None and ch.now < off_at:  # be up in time to take the sensors off
            sit = min(sit, max(off_at - ch.now, 20 * 60.0))
        if 27 * 60 < sit < 33 * 60:  # cut short by the end of the day: stay clear of 30 min
            sit = 26 * 60.0
        ch.desk_sitting(sit)
        if end - ch.now < 100.0:
            break
        _break(ch, end - 10.0, wear)
    if end > ch.now:
        ch.hold(end - ch.now)


def _awake(ch: Choreographer, bed: float, wear: Wear) -> None:
    """A day out of bed until ``bed``: morning, breakfast, commute, office, nap, evening."""
    ch.walking(ch.u(20, 60))  # bathroom, kitchen
    ch.standing(ch.u(120, 420))
    if wear.nonwear and bed - ch.now > 2 * 3600:  # the shower: sensors on a table, chair, charger
        sensors_off(ch, 60.0 * ch.u(15, 40), str(ch.rng.choice(["table", "chair", "charger"])))
    if wear.short_bouts:
        short_bout(ch)
        short_bout(ch)
    if bed - ch.now < 5 * 3600:  # only a morning (the recording ends) or an odd start
        if bed - ch.now > 600:
            _office(ch, bed, sofa=True, wear=wear)
        ch.hold(bed - ch.now)
        return
    ch.sit_down()
    ch.desk_sitting(60.0 * ch.u(10, 20))  # breakfast
    ch.stand_up()
    if wear.nonwear and ch.rng.random() < 0.5:  # commute with the sensors in a bag
        sensors_off(ch, 60.0 * ch.u(25, 50), "bag")
    else:
        ch.walking(60.0 * ch.u(5, 15))
    _office(ch, min(ch.now + 3600.0 * ch.u(7.5, 9.0), bed - 3 * 3600.0), wear=wear)
    if ch.posture == "sitting":
        ch.stand_up()
    ch.walking(60.0 * ch.u(5, 15))  # home
    if wear.naps:
        nap(ch)
    if wear.nonwear:
        if ch.rng.random() < 0.6:
            sensors_off(ch, 60.0 * ch.u(30, 150), "charger")
        if ch.rng.random() < 0.5:
            sensors_off(ch, 60.0 * ch.u(10, 40), str(ch.rng.choice(PLACEMENTS_ONE)),
                        location=str(ch.rng.choice(["pelvis", "thigh", "thorax"])))
    if bed - ch.now > 600:
        _office(ch, bed, sofa=True, wear=wear)
    ch.hold(bed - ch.now)


def _days(ch: Choreographer, end: float, wear: Wear) -> None:
    """Whole days with a night in bed each (bed 22:30–23:30, up 06:15–07:30 on the UTC clock)."""
    midnight = np.floor(ch.now / DAY_S) * DAY_S
    nights = []
    for d in range(int((end - midnight) // DAY_S) + 1):
        bed = midnight + d * DAY_S + 3600.0 * ch.u(*BED_HOURS)
        rise = midnight + (d + 1) * DAY_S + 3600.0 * ch.u(*RISE_HOURS)
        if bed >= ch.now + 2 * 3600.0 and bed < end - 3600.0:
            nights.append((bed, rise))
    for i, (bed, rise) in enumerate(nights):
        _awake(ch, bed, wear)
        if rise < end - 900.0:
            night(ch, rise, long_awakening=i == 0)
        else:  # the recording ends in bed
            night(ch, end, long_awakening=i == 0, get_up_at_end=False)
            return
    _awake(ch, end, wear)


def plan_day(seed: int, start: float, hours: float, wear: Wear | None = None,
             days: int = 0) -> Plan:
    """Plan ``hours`` (or ``days`` whole days) of the wearer's life from ``start`` with the seeded
    body-motion stream; ``wear`` adds the parts of real everyday wear it switches on."""
    rng = np.random.default_rng([int(seed), 1])
    end = start + (days * DAY_S if days else hours * 3600.0)
    wear = Wear() if wear is None else wear
    ch = Choreographer(rng, start, heading=float(rng.uniform(0, 360)))
    if days:
        _days(ch, end, wear)
    elif hours <= 16.0:
        _office(ch, end, wear=wear, off_break=wear.nonwear)
    else:
        sleep_h = min(8.0, hours - 16.0)
        _office(ch, start + OFFICE_HOURS * 3600.0, wear=wear, off_break=wear.nonwear)
        if wear.naps:
            nap(ch)
        _office(ch, end - sleep_h * 3600.0, sofa=True, wear=wear)
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
    breathing = None
    if wear.breathing:  # its own stream: the wander above stays what it was without it
        brng = np.random.default_rng([int(seed), 10])
        breathing = Breathing(rate_hz=float(brng.uniform(0.2, 0.3)),
                              thorax_deg=float(brng.uniform(0.3, 0.5)),
                              pelvis_deg=float(brng.uniform(0.05, 0.12)),
                              modulation=float(brng.uniform(2.0, 4.0)),
                              modulation_hz=float(brng.uniform(1 / 120, 1 / 40)))
    motion = Motion(ch.tracks, bouts, wander, origin=start, end=max(end, ch.now),
                    breathing=breathing)
    return Plan(motion, label_times, label_codes, ch.events, start, end,
                transitions=[tr for tr in ch.transitions if tr[1] < end],
                in_bed=[(s, min(e, end)) for s, e in ch.in_bed if s < end],
                nonwear=[{**nw, "end": min(nw["end"], end)} for nw in ch.nonwear
                         if nw["start"] < end],
                cuts=[c for c in ch.cuts if start < c < end])


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
                ch.events, start, end,
                transitions=[tr for tr in ch.transitions if tr[1] < end],
                in_bed=[(s, min(e, end)) for s, e in ch.in_bed if s < end],
                nonwear=[{**nw, "end": min(nw["end"], end)} for nw in ch.nonwear if nw["start"] < end],
                cuts=[c for c in ch.cuts if start < c < end])
