"""Activities of the synthetic wearer as keyframes: sitting with slumps, standing with bends, ...

A ``Choreographer`` owns the keyframe tracks, the posture label timeline and the event log; each
activity method appends keyframes from ``now`` on and advances ``now``. Targets are drawn so that
episode thresholds (docs/architecture.md §3) are crossed clearly: held slumps sit ≥ 3° beyond their enter
threshold and short dips end well before the 60 s sustain time.
"""

from __future__ import annotations

import numpy as np

from posturewatch.simulators.trajectory import Track

STAND_HIP = 0.92  # m, hip-centre height standing
SEAT_HIP = 0.48  # m, seated on a chair
LIE_HIP = 0.45  # m, lying on a bed or sofa
PRONE_HIP = 0.12  # m, lying face down on a mat

NEUTRAL: dict[str, float] = {
    "heading": 0.0, "theta_pelvis": 0.0, "theta_thigh": 0.0, "theta_thorax": 0.0, "neck": 0.0,
    "head_yaw": 0.0, "roll_pelvis": 0.0, "roll_thigh": 0.0, "roll_thorax": 0.0, "roll_head": 0.0,
    "hip_height": STAND_HIP, "lateral": 0.0, "walk": 0.0,
}
STANDING_POSE = {k: v for k, v in NEUTRAL.items() if k not in ("heading", "head_yaw", "walk")}
UNROLLED = {"roll_pelvis": 0.0, "roll_thigh": 0.0, "roll_thorax": 0.0, "roll_head": 0.0}

CANONICAL_POSES: dict[str, dict[str, float]] = {
    # centres of the ranges the activities draw from: segment θ (degrees) for the canonical posture table
    "standing neutral": {"theta_pelvis": 0.0, "theta_thigh": 0.0, "theta_thorax": 0.0},
    "sitting upright": {"theta_pelvis": -5.5, "theta_thigh": -90.0, "theta_thorax": 4.0},
    "sitting slumped": {"theta_pelvis": -21.5, "theta_thigh": -90.0, "theta_thorax": 10.5},
    "forward bend, hips": {"theta_pelvis": 60.0, "theta_thigh": -2.5, "theta_thorax": 75.0},
    "forward bend, back": {"theta_pelvis": 15.0, "theta_thigh": -2.5, "theta_thorax": 75.0},
    "lying supine": {"theta_pelvis": -90.0, "theta_thigh": -90.0, "theta_thorax": -90.0},
}
"""The model's pose for each row of the canonical posture table (the "sitting slumped"
row is the pelvis-only slump; the full slump also rounds the thorax past the forward-head limit)."""


class Choreographer:
    """Builds the day's keyframes activity by activity."""

    def __init__(self, rng: np.random.Generator, start: float, heading: float = 0.0) -> None:
        self.rng = rng
        self.now = start
        self.tracks = {name: Track(value) for name, value in NEUTRAL.items()}
        self.tracks["heading"] = Track(heading)
        self.labels: list[tuple[float, str]] = [(start, "standing")]
        self.gait: list[tuple[float, float, float, float]] = []
        self.events: list[dict] = []
        self._bend_bag: list[str] = []
        # truth the real-wear plans need: (kind, start, end) of every sit-to-stand / stand-to-sit,
        # nights in bed, sensors off the body, and instants where the truth may be cut in two
        self.transitions: list[tuple[str, float, float]] = []
        self.in_bed: list[tuple[float, float]] = []
        self.nonwear: list[dict] = []
        self.cuts: list[float] = []

    # -- primitives -------------------------------------------------------------------------
    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def value(self, name: str) -> float:
        return self.tracks[name].last

    def pose(self, duration: float, label: str | None = None, **targets: float) -> None:
        """Move the given tracks together to their targets (min-jerk); label at mid-move."""
        t0, t1 = self.now, self.now + duration
        for name, value in targets.items():
            self.tracks[name].move(t0, t1, value)
        if label is not None:
            self.label(t0 + duration / 2.0, label)
        self.now = t1

    def hold(self, duration: float) -> None:
        self.now += max(0.0, duration)

    @property
    def posture(self) -> str:
        """The posture label in force at ``now``."""
        return self.labels[-1][1]

    def label(self, t: float, name: str) -> None:
        if name != self.labels[-1][1]:
            self.labels.append((t, name))

    def event(self, kind: str, **info: object) -> None:
        self.events.append({"kind": kind, "t": round(self.now, 3), **info})

    # -- sitting ----------------------------------------------------------------------------
    def _seat(self) -> dict[str, float]:
        return {"theta_pelvis": self.u(-8, -3), "theta_thorax": self.u(0, 8),
                "neck": self.u(0, 7), "theta_thigh": -self.u(85, 95)}

    def sit_down(self) -> None:
        d = self.u(1.5, 3.0)
        self.transitions.append(("stand_to_sit", self.now, self.now + d))
        self.pose(0.45 * d, theta_thigh=-45, theta_pelvis=15, theta_thorax=28, neck=5,
                  hip_height=0.70, lateral=0.0, **UNROLLED)
        self.label(self.now, "sitting")
        self.pose(0.55 * d, hip_height=SEAT_HIP, **self._seat())
        self.event("sit_down")

    def stand_up(self) -> None:
        d = self.u(1.5, 3.0)
        self.event("stand_up")
        self.transitions.append(("sit_to_stand", self.now, self.now + d))
        self.pose(0.4 * d, theta_thigh=-80, theta_pelvis=15, theta_thorax=30, neck=5,
                  hip_height=SEAT_HIP + 0.02, **UNROLLED)
        self.label(self.now + 0.1 * d, "standing")
        self.pose(0.6 * d, **STANDING_POSE)

    def desk_sitting(self, duration: float) -> None:
        """Sit for ``duration`` s: upright spells with fidgets, and slumps of three kinds."""
        end = self.now + duration
        seat = {k: self.value(k) for k in ("theta_pelvis", "theta_thorax", "neck", "theta_thigh")}
        while end - self.now > 60.0:
            self._upright_spell(min(self.u(60, 420), end - self.now - 30.0), seat)
            if end - self.now < 150.0:
                break
            self._slump(end, seat)
        self._uncross()
        self.hold(end - self.now)

    def _upright_spell(self, duration: float, seat: dict[str, float]) -> None:
        end = self.now + duration
        while True:
            gap = self.u(15, 90)
            if self.now + gap + 10.0 > end:
                break
            self.hold(gap)
            kind = self.rng.choice(["shift", "reach", "cross", "swivel"], p=[0.4, 0.2, 0.2, 0.2])
            if kind == "shift":
                self.pose(self.u(0.4, 1.0), theta_pelvis=seat["theta_pelvis"] + self.u(-3, 3),
                          theta_thorax=seat["theta_thorax"] + self.u(-3, 3),
                          roll_pelvis=self.u(-4, 4), roll_thorax=self.u(-4, 4))
                self.hold(self.u(2, 8))
                self.pose(self.u(0.4, 1.0), theta_pelvis=seat["theta_pelvis"],
                          theta_thorax=seat["theta_thorax"], roll_pelvis=0.0, roll_thorax=0.0)
            elif kind == "reach":
                self.pose(self.u(0.8, 1.5), theta_thorax=self.u(15, 30),
                          theta_pelvis=seat["theta_pelvis"] + self.u(2, 6),
                          heading=self.value("heading") + self.u(-25, 25))
                self.hold(self.u(1, 3))
                self.pose(self.u(0.8, 1.5), theta_thorax=seat["theta_thorax"],
                          theta_pelvis=seat["theta_pelvis"])
            elif kind == "cross":
                if abs(self.value("roll_thigh")) > 1.0:
                    self._uncross()
                else:
                    self.pose(self.u(1.0, 2.0), roll_thigh=self.u(15, 25) * self.rng.choice([-1, 1]),
                              theta_thigh=seat["theta_thigh"] - self.u(3, 8))
            else:
                self.pose(self.u(1.0, 2.0), heading=self.value("heading") + self.u(-20, 20))
        self.hold(end - self.now)

    def _uncross(self) -> None:
        if abs(self.value("roll_thigh")) > 1.0:
            self.pose(self.u(1.0, 2.0), roll_thigh=0.0, theta_thigh=-self.u(85, 95))

    def _slump(self, end: float, seat: dict[str, float]) -> None:
        kind = str(self.rng.choice(["full", "pelvis_only", "lean"], p=[0.5, 0.25, 0.25]))
        if kind == "lean":
            target = {"theta_pelvis": self.u(-7, -2), "theta_thorax": self.u(24, 32),
                      "neck": self.u(22, 32)}
            develop = self.u(5, 20)
        else:
            thorax = self.u(23, 30) if kind == "full" else self.u(8, 13)
            neck = self.u(22, 32) if kind == "full" else self.u(0, 7)
            target = {"theta_pelvis": self.u(-25, -18), "theta_thorax": thorax, "neck": neck}
            develop = self.u(20, 90)
        held = _held(self.rng, end - self.now - develop - 10.0, long=(90, 360), short=(10, 20))
        if held < 60.0:  # a short dip comes on quickly, so it ends well before the 60 s sustain
            develop = min(develop, self.u(5, 12))
        self.event("slump", type=kind, develop_s=round(develop, 1), held_s=round(held, 1),
                   **{k: round(v, 1) for k, v in target.items()})
        self.pose(develop, **target)
        hold_end = self.now + held
        while hold_end - self.now > 40.0:  # small rapid shifts that never cross back
            self.hold(self.u(15, 30))
            self.pose(self.u(0.3, 0.8), theta_pelvis=target["theta_pelvis"] + self.u(0, 2),
                      theta_thorax=target["theta_thorax"] + self.u(-2, 0))
            self.hold(self.u(1, 4))
            self.pose(self.u(0.3, 0.8), theta_pelvis=target["theta_pelvis"],
                      theta_thorax=target["theta_thorax"])
        self.hold(hold_end - self.now)
        self.pose(self.u(2, 5), **seat)

    # -- standing ---------------------------------------------------------------------------
    def standing(self, duration: float) -> None:
        """Stand for ``duration`` s: sway, weight shifts, turns, bends, some posterior tilt."""
        end = self.now + duration
        n_bends = 2 + int(self.rng.poisson(2.0))
        plan = [(float(t), "bend") for t in self.rng.uniform(self.now + 5, end - 15, n_bends)]
        if self.rng.random() < 0.3:
            plan.append((self.u(self.now, end - 30), "tilt"))
        for t_next, kind in sorted(plan):
            if t_next - self.now < 5.0:
                continue
            self._idle(t_next - self.now)
            if end - self.now < 15.0:
                break
            if kind == "bend":
                self.bend()
            else:
                self._standing_tilt(end)
        self._idle(end - self.now)

    def _idle(self, duration: float) -> None:
        end = self.now + duration
        while end - self.now > 8.0:
            self.hold(min(self.u(4, 30), end - self.now - 4.0))
            r = self.rng.random()
            if r < 0.15 and end - self.now > 6.0:
                self.pose(self.u(1.0, 2.0), heading=self.value("heading") + self.u(-90, 90))
            elif end - self.now > 6.0:
                shift = self.u(0.015, 0.035) * self.rng.choice([-1, 1])
                self.pose(self.u(0.8, 2.0), lateral=shift, roll_pelvis=-80.0 * shift,
                          roll_thigh=40.0 * shift)
        self.hold(end - self.now)

    def _standing_tilt(self, end: float) -> None:
        held = _held(self.rng, end - self.now - 10.0, long=(90, 150), short=(10, 20))
        pelvis = self.u(-22, -18)
        self.event("standing_tilt", held_s=round(held, 1), theta_pelvis=round(pelvis, 1))
        self.pose(self.u(2, 5), theta_pelvis=pelvis, theta_thorax=self.u(-2, 4))
        self.hold(held)
        self.pose(self.u(2, 4), theta_pelvis=0.0, theta_thorax=0.0)

    def bend(self, kind: str | None = None) -> None:
        """A forward bend done with the hips or with the back: down, hold, up (2–6 s)."""
        if kind is None:
            if not self._bend_bag:
                self._bend_bag = list(self.rng.permutation(["hips", "back"]))
            kind = self._bend_bag.pop()
        if kind == "hips":
            target = {"theta_pelvis": self.u(55, 65), "theta_thigh": -self.u(0, 5)}
        else:
            target = {"theta_pelvis": self.u(10, 20), "theta_thigh": -self.u(0, 5)}
        target |= {"theta_thorax": self.u(70, 80), "neck": self.u(10, 25),
                   "hip_height": STAND_HIP - 0.04, "lateral": 0.0, **UNROLLED}
        self.event("bend", type=kind, **{k: round(target[k], 1) for k in
                                         ("theta_pelvis", "theta_thorax", "theta_thigh")})
        self.pose(self.u(0.8, 2.0), **target)
        self.hold(self.u(0.4, 2.0))
        self.pose(self.u(0.8, 2.0), **STANDING_POSE)

    # -- walking ----------------------------------------------------------------------------
    def walking(self, duration: float) -> None:
        """Walk for ``duration`` s with turns (some of 180°), starting and ending standing."""
        ramp = self.u(0.8, 1.2)
        self.gait.append((self.now, self.u(1 / 1.1, 1 / 1.0), self.u(1.2, 1.5),
                          self.u(0, 2 * np.pi)))
        self.event("walk", duration_s=round(duration, 1))
        self.pose(ramp, label="walking", walk=1.0, theta_pelvis=3.0, theta_thorax=3.0,
                  theta_thigh=-7.5, neck=3.0, lateral=0.0, **UNROLLED)
        end = self.now + duration - 2 * ramp
        while end - self.now > 8.0:
            self.hold(min(self.u(5, 40), end - self.now - 4.0))
            if end - self.now < 4.0:
                break
            if self.rng.random() < 0.25:
                turn, d = 180.0 * self.rng.choice([-1, 1]), self.u(2.0, 3.0)
            else:
                turn, d = self.u(30, 120) * self.rng.choice([-1, 1]), self.u(1.0, 2.0)
            self.pose(d, heading=self.value("heading") + turn)
        self.hold(end - self.now)
        self.pose(ramp, label="standing", walk=0.0, **STANDING_POSE)

    # -- lying ------------------------------------------------------------------------------
    def lying(self, duration: float, change_every: tuple[float, float] = (180, 900)) -> None:
        """Lie down from standing (via sitting on the bed edge), change position, get up."""
        self.sit_down()
        self.hold(self.u(3, 10))
        turn = 90.0 * self.rng.choice([-1, 1])
        base_heading = self.value("heading")
        self.event("lie_down", position="supine")
        pelvis = -90 + self.u(-3, 3)
        self.pose(self.u(2.0, 3.0), label="lying", theta_pelvis=pelvis,
                  theta_thorax=pelvis + self.u(-3, 3), neck=self.u(10, 20),
                  theta_thigh=-90 + self.u(-3, 3), hip_height=LIE_HIP,
                  heading=base_heading + turn)
        end = self.now + duration
        while end - self.now > change_every[0] + 10:
            self.hold(min(self.u(*change_every), end - self.now - 10))
            position = str(self.rng.choice(["supine", "left", "right"]))
            roll = {"supine": 0.0, "left": self.u(60, 80), "right": -self.u(60, 80)}[position]
            self.event("lying_position", position=position)
            self.pose(self.u(1.5, 3.0), roll_pelvis=roll, roll_thorax=roll, roll_thigh=roll,
                      roll_head=roll * 0.8, theta_thigh=-90 - (0 if roll == 0 else self.u(10, 30)))
        self.hold(end - self.now)
        self.pose(self.u(2.0, 3.0), label="sitting", heading=base_heading, hip_height=SEAT_HIP,
                  **UNROLLED, **self._seat())
        self.hold(self.u(3, 10))
        self.stand_up()

    def lying_prone(self, duration: float) -> None:
        """Kneel and lie face down on a mat, then get back up."""
        self.pose(self.u(1.5, 2.5), hip_height=0.55, theta_thorax=10.0, theta_thigh=0.0)
        self.event("lie_down", position="prone")
        self.pose(self.u(2.5, 3.5), label="lying", theta_pelvis=95.0 + self.u(-3, 3),
                  theta_thorax=85.0 + self.u(-3, 3), theta_thigh=90.0, neck=self.u(-10, 0),
                  hip_height=PRONE_HIP)
        self.hold(duration)
        self.pose(self.u(2.5, 3.5), label="standing", theta_pelvis=0.0, theta_thorax=10.0,
                  theta_thigh=0.0, neck=0.0, hip_height=0.55)
        self.pose(self.u(1.5, 2.5), **STANDING_POSE)


    def lying_positions(self, positions: list[tuple[str, float]]) -> None:
        """Lie down in bed (via its edge), take each ``(position, seconds)`` in turn, get up.

        ``supine``; ``left``/``right``: rolled 70–85° onto that side (gravity clearly across the
        sagittal plane, knees drawn up a little); ``semi_reclined``: the back propped up on
        pillows, thorax 57–63° and pelvis 72–78° from vertical, legs along the mattress.
        """
        self.sit_down()
        self.hold(self.u(3, 10))
        base_heading = self.value("heading")
        self.event("lie_down", position="supine")
        pelvis = -90 + self.u(-3, 3)
        supine = {"theta_pelvis": pelvis, "theta_thorax": pelvis + self.u(-3, 3),
                  "theta_thigh": -90 + self.u(-3, 3)}
        self.pose(self.u(2.0, 3.0), label="lying", neck=self.u(10, 20), hip_height=LIE_HIP,
                  heading=base_heading + 90.0, **supine)
        for position, seconds in positions:
            self.event("lying_position", position=position)
            if position == "semi_reclined":
                target = {"theta_thorax": -60 + self.u(-3, 3), "theta_pelvis": -75 + self.u(-3, 3),
                          "theta_thigh": -88 + self.u(-3, 3), **UNROLLED}
            else:
                roll = {"supine": 0.0, "left": self.u(70, 85), "right": -self.u(70, 85)}[position]
                knees = 0.0 if roll == 0 else self.u(10, 30)
                target = {**supine, "theta_thigh": supine["theta_thigh"] - knees,
                          "roll_pelvis": roll, "roll_thorax": roll, "roll_thigh": roll,
                          "roll_head": 0.8 * roll}
            self.pose(self.u(1.5, 3.0), **target)
            self.hold(seconds)
        self.pose(self.u(2.0, 3.0), label="sitting", heading=base_heading, hip_height=SEAT_HIP,
                  **UNROLLED, **self._seat())
        self.hold(self.u(3, 10))
        self.stand_up()


def _held(rng: np.random.Generator, available: float, long: tuple[float, float],
          short: tuple[float, float]) -> float:
    """How long a slump or tilt is held: clearly long (≥ 90 s) or clearly short.

    Short dips (onset to recovery ≲ 35 s) are released (+10 s) well before the 60 s sustain.
    """
    held = rng.uniform(*long) if rng.random() < 0.7 else rng.uniform(*short)
    if held > available:
        held = available if available >= long[0] else min(rng.uniform(*short), available)
    return float(max(held, 1.0))
