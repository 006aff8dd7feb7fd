"""Scripted days for focused tests and benches: many short bouts, sensors taken off and put back,
sensors slipping while the wearer sits or stands.

``plan_script`` runs any script; the ones here pack the situations the classifier finds hardest
into little time, so a test of them runs in seconds: 3–10 s bouts of sitting, standing up and
lying on a bed between ordinary sitting, standing and walking, and (``rewear``) the sensors taken
off and put back on, possibly the other way round, followed by more short bouts before the next
walk long enough to learn the mountings again; and a morning whose pelvis and thorax sensors each
slip once while seated and once while standing (``still_slips``).
"""

from __future__ import annotations

import numpy as np

from posturewatch.simulators.activities import Choreographer
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.everyday import sensors_off, short_bout, stand
from posturewatch.simulators.schedule import Plan, plan_script
from posturewatch.simulators.sensors import SensorSpec, build_specs

STILL_SLIPS_HOURS = 25 / 60


def _short_bouts(ch: Choreographer, rounds: int) -> None:
    """``rounds`` rounds of short bouts of each kind, between short ordinary stretches."""
    for _ in range(rounds):
        ch.sit_down()
        ch.desk_sitting(ch.u(40, 70))
        short_bout(ch, "stand")  # stand up for 3–10 s and sit down again
        ch.hold(ch.u(15, 30))
        ch.stand_up()
        stand(ch, ch.u(8, 20))
        short_bout(ch, "sit")
        ch.walking(ch.u(12, 18))  # too short to learn from
        stand(ch, ch.u(5, 10))
        short_bout(ch, "lie")


def short_bouts_script(rounds: int = 6, rewear: bool = False):
    """A script: walk and stand (mountings are learnt), then ``rounds`` rounds of short bouts;
    with ``rewear`` the sensors come off for 12 min (table) and go back on, then more rounds
    before a walk of a minute, then the last rounds."""
    def script(ch: Choreographer) -> None:
        ch.walking(90.0)
        ch.standing(60.0)
        _short_bouts(ch, rounds)
        if rewear:
            sensors_off(ch, 720.0, "table")
            _short_bouts(ch, rounds)
            ch.walking(60.0)
            stand(ch, 30.0)
            _short_bouts(ch, max(1, rounds // 2))
    return script


def short_bouts_plan(seed: int, start: float, hours: float, rounds: int = 6, rewear: bool = False) -> Plan:
    """The plan of ``short_bouts_script`` (time left after it is held standing still)."""
    return plan_script(seed, start, hours, short_bouts_script(rounds, rewear))


def _still_slips_script(ch: Choreographer) -> None:
    ch.walking(90.0)  # the mountings are learnt from this walk
    stand(ch, 40.0)
    ch.sit_down()
    ch.event("sat")
    ch.desk_sitting(560.0)
    ch.stand_up()
    ch.event("stood")
    ch.hold(320.0)  # standing quietly (a queue, a conversation)
    ch.walking(60.0)
    ch.sit_down()
    ch.hold(200.0)


def still_slips(config: WearerConfig) -> tuple[Plan, dict[str, SensorSpec], list[tuple[str, float, float]]]:
    """A 25 min morning (``config.hours`` should be ``STILL_SLIPS_HOURS``; use ``slip=False`` in
    its realism) whose pelvis sensor slips +10° a minute into desk sitting and −9° in quiet
    standing and whose thorax sensor slips −10° in a slump and +9° in quiet standing, each a
    slide about the segment's left axis: the plan, the specs to ``simulate`` with and the slips
    as (location, time, degrees)."""
    plan = plan_script(config.seed, config.start, config.hours, _still_slips_script)
    specs = build_specs(config, plan)
    sat = next(e["t"] for e in plan.events if e["kind"] == "sat")
    stood = next(e["t"] for e in plan.events if e["kind"] == "stood")
    slips = [("pelvis", sat + 60.0, 10.0), ("thorax", sat + 380.0, -10.0),
             ("thorax", stood + 90.0, 9.0), ("pelvis", stood + 210.0, -9.0)]
    for loc, at, deg in slips:
        spec = specs[loc]
        axis = spec.mounting.T @ np.array([0.0, 0.0, 1.0])
        spec.extra_slips.append({"time": at, "axis": axis, "deg": deg, "context": "test", "until": np.inf})
    return plan, specs, slips
