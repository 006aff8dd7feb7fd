"""Everyday wear beyond the office: nights in bed, naps, short bouts and sensors taken off.

Each function appends keyframes to a ``Choreographer`` from its ``now`` on, like the activities in
``activities``. Nights record their in-bed period (lying down in bed → out of bed in the morning)
and an instant in the middle of a long still lie where the truth may be cut (no episode or bout
can span it). Sensors taken off are recorded as ``nonwear`` entries (location or ``"all"``,
start, end, placement); the sensor signal while off is made in ``offbody``.
"""

from __future__ import annotations

import numpy as np

from posturewatch.simulators.activities import LIE_HIP, SEAT_HIP, UNROLLED, Choreographer

PLACEMENTS_ALL = ("table", "chair", "charger", "bag")
PLACEMENTS_ONE = ("table", "charger")
PLACEMENTS_SEATED = ("table", "chair")  # one sensor put on the desk or the chair beside
SIDE_ROLL = (70.0, 85.0)  # degrees of roll lying on a side
HANDLE_S = 2.0  # taking a sensor off / putting it on takes this long (inside the non-wear span)


def stand(ch: Choreographer, seconds: float) -> None:
    """Stand for ``seconds``: quietly when short, with sway, bends and shifts when ≥ 45 s."""
    if seconds >= 45.0:
        ch.standing(seconds)
    else:
        ch.hold(seconds)


def lie_down(ch: Choreographer, semi: bool = False) -> float:
    """From standing: sit on the bed edge, lie down on the back (or semi-reclined, propped up).

    Returns the heading to get up to again."""
    ch.sit_down()
    ch.hold(ch.u(3, 15))
    base = ch.value("heading")
    if semi:  # propped on pillows: trunk 25–40° above horizontal, legs flat
        pelvis = -ch.u(50, 62)
        target = {"theta_pelvis": pelvis, "theta_thorax": pelvis - ch.u(0, 6), "neck": ch.u(15, 30)}
    else:
        pelvis = -90 + ch.u(-3, 3)
        target = {"theta_pelvis": pelvis, "theta_thorax": pelvis + ch.u(-3, 3), "neck": ch.u(10, 20)}
    ch.event("lie_down", position="semi_reclined" if semi else "supine")
    ch.pose(ch.u(2.0, 3.5), label="lying", theta_thigh=-90 + ch.u(-4, 4), hip_height=LIE_HIP,
            heading=base + 90.0 * ch.rng.choice([-1, 1]), **target)
    return base


def turn(ch: Choreographer, position: str) -> None:
    """Roll over in bed to ``position`` (supine, left, right, prone) the short way round."""
    target = {"supine": 0.0, "left": ch.u(*SIDE_ROLL), "right": -ch.u(*SIDE_ROLL),
              "prone": 180.0}[position]
    now = ch.value("roll_pelvis")
    if position == "prone" and now < 0:  # over the side it is lying on (rolls stay in ±270°)
        target = -180.0
    thigh = -90 + (ch.u(-3, 3) if position in ("supine", "prone") else -ch.u(10, 30))
    pelvis = -90 + ch.u(-3, 3)
    ch.event("lying_position", position=position)
    duration = ch.u(2.0, 4.0) * max(1.0, abs(target - now) / 120.0)
    ch.pose(duration, roll_pelvis=target, roll_thorax=target, roll_thigh=target, roll_head=target,
            theta_pelvis=pelvis, theta_thorax=pelvis + ch.u(-3, 3),
            theta_thigh=thigh, neck=ch.u(5, 20))


def get_up(ch: Choreographer, heading: float) -> None:
    """From lying: back to supine, sit up on the bed edge, stand up."""
    if abs(ch.value("roll_pelvis")) > 1.0:
        turn(ch, "supine")
    ch.pose(ch.u(2.0, 3.0), label="sitting", heading=heading, hip_height=SEAT_HIP, **UNROLLED,
            **ch._seat())
    ch.hold(ch.u(3, 20))
    ch.stand_up()


def lie_still(ch: Choreographer, until: float, bouts: tuple[float, float] = (600, 5400)) -> None:
    """Lie until ``until``, turning between supine, prone and both sides; the middle of the
    longest still spell becomes a truth cut point."""
    positions = ["supine", "left", "right", "prone"]
    weights = np.array([0.35, 0.27, 0.27, 0.11])
    current, longest = "supine", (0.0, None)
    while until - ch.now > bouts[0] + 30.0:
        held = min(ch.u(*bouts), until - ch.now - 30.0)
        if held > longest[0]:
            longest = (held, ch.now + held / 2.0)
        ch.hold(held)
        others = [p != current for p in positions]
        current = str(ch.rng.choice(positions, p=weights * others / (weights * others).sum()))
        turn(ch, current)
    rest = until - ch.now
    if rest > longest[0]:
        longest = (rest, ch.now + rest / 2.0)
    ch.hold(rest)
    if longest[1] is not None and longest[0] >= 600.0:
        ch.cuts.append(float(longest[1]))


def night(ch: Choreographer, rise: float, long_awakening: bool, get_up_at_end: bool = True) -> None:
    """Go to bed now and get up at ``rise``: reading propped up, sleep with turns, 0–2
    awakenings out of bed (one of ≥ 5 min when ``long_awakening``). Without ``get_up_at_end``
    the wearer is still in bed at ``rise`` (the end of the recording)."""
    if ch.posture == "sitting":
        ch.stand_up()
    ch.walking(ch.u(15, 40))  # to the bedroom
    stand(ch, ch.u(60, 240))  # teeth, undressing
    begin = ch.now
    semi = bool(ch.rng.random() < 0.5)
    heading = lie_down(ch, semi=semi)
    if semi:
        ch.hold(ch.u(10, 30) * 60.0)
        ch.event("lying_position", position="supine")
        pelvis = -90 + ch.u(-3, 3)
        ch.pose(ch.u(2.0, 3.5), theta_pelvis=pelvis, theta_thorax=pelvis + ch.u(-3, 3),
                neck=ch.u(10, 20))
    n_awake = int(ch.rng.choice([0, 1, 1, 2])) or (1 if long_awakening else 0)
    span = rise - ch.now
    wakes = np.sort(ch.rng.uniform(ch.now + 0.2 * span, rise - 0.2 * span, n_awake))
    for i, at in enumerate(wakes):
        if at - ch.now < 1800.0:
            continue
        lie_still(ch, at)
        long = (long_awakening and i == 0) or ch.rng.random() < 0.3
        away = 60.0 * (ch.u(5.5, 12) if long else ch.u(1.5, 4))
        get_up(ch, heading)
        t_out = ch.now
        ch.event("night_awakening", out_of_bed_s=round(away, 1))
        walk = min(ch.u(15, 40), away / 4)
        ch.walking(walk)
        stand(ch, max(20.0, away - 2 * walk - 20.0))
        ch.walking(walk)
        ch.hold(max(0.0, away - (ch.now - t_out)))
        heading = lie_down(ch)
    if not get_up_at_end:
        lie_still(ch, rise)
        ch.in_bed.append((round(begin, 3), round(ch.now, 3)))
        return
    lie_still(ch, max(ch.now + 60.0, rise - 10.0))
    get_up(ch, heading)
    ch.in_bed.append((round(begin, 3), round(ch.now, 3)))
    ch.event("out_of_bed", in_bed_since=round(begin, 3))


def nap(ch: Choreographer) -> None:
    """A daytime nap of 20–60 min on the sofa or bed, flat or semi-reclined."""
    if ch.posture == "sitting":
        ch.stand_up()
    semi = bool(ch.rng.random() < 0.5)
    ch.event("nap", semi_reclined=semi)
    heading = lie_down(ch, semi=semi)
    end = ch.now + 60.0 * ch.u(20, 60)
    if semi:
        ch.hold(end - ch.now)
    else:
        lie_still(ch, end, bouts=(300, 1500))
    get_up(ch, heading)


def short_bout(ch: Choreographer, kind: str | None = None) -> None:
    """A bout of 3–10 s in another posture: sit down briefly, stand up briefly, lie on a bed."""
    if kind is None:
        kind = "stand" if ch.posture == "sitting" else str(ch.rng.choice(["sit", "lie"]))
    held = ch.u(3, 10)
    ch.event("short_bout", type=kind, held_s=round(held, 1))
    if kind == "stand":
        ch.stand_up()
        ch.hold(held)
        ch.sit_down()
        return
    if ch.posture == "sitting":
        ch.stand_up()
        stand(ch, ch.u(1, 3))
    if kind == "sit":
        ch.sit_down()
        ch.hold(held)
        ch.stand_up()
        stand(ch, ch.u(3, 8))
        return
    heading = lie_down(ch)
    ch.hold(held)
    ch.pose(ch.u(1.5, 2.5), label="sitting", heading=heading, hip_height=SEAT_HIP, **UNROLLED,
            **ch._seat())
    ch.stand_up()
    stand(ch, ch.u(3, 8))


def sensors_off(ch: Choreographer, duration: float, placement: str, location: str = "all") -> None:
    """Take the sensors (or one) off while standing, put them down and put them back on.

    The body carries on meanwhile: a shower or changing (standing), a charge or a chair
    (sitting elsewhere), a bag (walking with it, then sitting)."""
    if ch.posture == "sitting":
        ch.stand_up()
    stand(ch, ch.u(20, 40))
    start = ch.now
    end = start + duration
    ch.event("sensors_off", location=location, placement=placement, duration_s=round(duration, 1))
    stand(ch, ch.u(30, 60))
    if placement == "bag":
        ch.walking(min(ch.u(4, 12) * 60.0, 0.4 * duration))
        ch.sit_down()
        ch.hold(max(30.0, end - ch.now - 400.0))
        ch.stand_up()
        ch.walking(max(80.0, end - ch.now - 60.0))
    elif placement in ("chair", "charger") and duration > 600.0:
        ch.walking(ch.u(10, 30))
        ch.sit_down()
        ch.hold(max(30.0, end - ch.now - 120.0))
        ch.stand_up()
        ch.walking(ch.u(10, 30))
    stand(ch, max(10.0, end - ch.now))
    end = ch.now
    ch.nonwear.append({"location": location, "start": round(start, 3), "end": round(end, 3),
                       "placement": placement})
    stand(ch, ch.u(20, 40))  # the sensors are on again before anything else happens


def sensor_off_seated(ch: Choreographer, duration: float, location: str, placement: str) -> None:
    """Take one sensor off while sitting at the desk and keep sitting (fidgets, shifts, reaches,
    slumps) with the other sensors on; put it back on before getting up."""
    if ch.posture != "sitting":
        ch.sit_down()
    start = ch.now
    ch.event("sensors_off", location=location, placement=placement, duration_s=round(duration, 1))
    ch.desk_sitting(duration)
    ch.nonwear.append({"location": location, "start": round(start, 3), "end": round(ch.now, 3),
                       "placement": placement})
    ch.desk_sitting(ch.u(60, 120))  # on again before anything else happens
