"""A deterministic 10 Hz stream of angle frames and episode events for the sink tests.

Sitting all along, pelvis slumping in posterior-tilt episodes, the trunk rounding in
forward-head ones. Events are built directly (start at confirmation = start + 60 s, end 10 s
after the backdated end), in the block whose time range holds their emission time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posturewatch.analytics.records import Episode, EpisodeEvent, Posture

T0 = 1_709_553_600.0  # 2024-03-04 12:00 UTC: outside the default quiet hours
RATE_HZ = 10
# (kind, start offset s, duration s); the tilt at 1300 falls in the cooldown of the one at 1100,
# the head episode at 1400 in a forward_head snooze the tests set at 1350 s.
EPISODES = [
    ("posterior_tilt", 100, 200),
    ("forward_head", 400, 150),
    ("posterior_tilt", 1100, 150),
    ("posterior_tilt", 1300, 200),
    ("forward_head", 1400, 200),
    ("posterior_tilt", 2100, 120),
]
ALERTED = {0, 1, 2, 5}  # indexes of EPISODES that must yield exactly one alert
SNOOZE_AT_S, SNOOZE_MIN, SNOOZE_KINDS = 1350, 10, ("forward_head",)


@dataclass(frozen=True)
class Block:
    index: int
    t: np.ndarray
    angles: dict[str, np.ndarray]
    posture: np.ndarray
    events: list[EpisodeEvent]
    now: float


def episodes() -> list[Episode]:
    out = []
    for kind, offset, duration in EPISODES:
        start = T0 + offset
        peak = -22.0 if kind == "posterior_tilt" else 30.0
        out.append(Episode(kind, start, start + 60, start + duration, peak, peak + 2))
    return out


def expected_alert_episode_ids() -> set[str]:
    eps = episodes()
    return {eps[i].id for i in ALERTED}


def blocks(duration_s: int = 2400, block_s: int = 5):
    eps = episodes()
    events = []
    for ep in eps:
        events.append(EpisodeEvent("start", Episode(ep.kind, ep.start, ep.confirmed), ep.confirmed))
        events.append(EpisodeEvent("end", ep, ep.end + 10))
    for index in range(duration_s // block_s):
        lo = T0 + index * block_s
        hi = lo + block_s
        t = lo + np.arange(block_s * RATE_HZ) / RATE_HZ
        tilt = np.full(len(t), -5.0)
        trunk = np.full(len(t), 2.0)
        for ep in eps:
            inside = (t >= ep.start) & (t < ep.end)
            if ep.kind == "posterior_tilt":
                tilt[inside] = -20.0
            else:
                trunk[inside] = 28.0
        angles = {
            "pelvic_tilt": tilt + 0.01 * (t - T0) % 1.0,
            "trunk_inclination": trunk,
            "thigh_inclination": np.full(len(t), 90.0),
            "neck_flexion": np.full(len(t), np.nan),
        }
        posture = np.full(len(t), int(Posture.SITTING), np.int8)
        mine = [e for e in events if lo <= e.ts < hi]
        yield Block(index, t, angles, posture, mine, hi)


def expected_seconds(duration_s: int = 2400) -> list[int]:
    return [int(T0) + i for i in range(duration_s)]
