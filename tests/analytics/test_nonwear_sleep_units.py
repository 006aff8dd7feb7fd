"""Non-wear and in-bed rules on hand-made 10 Hz frames: what must and must not count."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from posturewatch.analytics.nonwear import NonWearDetector
from posturewatch.analytics.records import Posture
from posturewatch.analytics.sleep import InBedTracker
from posturewatch.ingest.frames import FRAME_HZ, SensorFrames

G = 9.81
K0 = 17_000_000_000  # frame number of the first frame (an ordinary Unix time × 10)


def _frames(tilt_deg: np.ndarray, rng: np.random.Generator, k0: int, noise: float = 0.02,
            shake: np.ndarray | None = None) -> SensorFrames:
    """Frames of a sensor whose up direction tilts by ``tilt_deg`` about x (per frame)."""
    n = len(tilt_deg)
    a = np.radians(tilt_deg)
    up = np.column_stack([np.zeros(n), np.sin(a), np.cos(a)])
    acc = G * up + rng.normal(0, noise, (n, 3))
    if shake is not None:
        acc += shake[:, None] * rng.normal(0, 1, (n, 3))
    mag = np.linalg.norm(acc, axis=1)
    return SensorFrames(k0, np.full(n, 10), up, acc, mag * 10, mag * mag * 10)


def _run(sensors: dict[str, np.ndarray], rng, shake: dict | None = None, chunk: int = 100):
    det = NonWearDetector()
    n = len(next(iter(sensors.values())))
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        frames = {loc: _frames(tilt[a:b], rng, K0 + a, shake=None if shake is None or loc not in shake
                               else shake[loc][a:b]) for loc, tilt in sensors.items()}
        det.add(frames, {loc: np.zeros(b - a) for loc in sensors})
    return det, K0 + np.arange(n)


def test_sensors_at_rest_are_off_from_the_moment_they_were_put_down():
    rng = np.random.default_rng(1)
    n_on, n_off = 3 * 60 * FRAME_HZ, 20 * 60 * FRAME_HZ
    t = np.arange(n_on + n_off) / FRAME_HZ
    worn = 5 * np.sin(2 * np.pi * t / 7.0) + 2 * np.sin(2 * np.pi * t / 41.0)  # body sway
    rest = {"pelvis": 90.0, "thigh": 0.0, "thorax": 75.0}  # on a table, a seat, against a backrest
    sensors = {loc: np.where(np.arange(len(t)) < n_on, worn, r) for loc, r in rest.items()}
    det, k = _run(sensors, rng)
    off = det.wearer_off(k / FRAME_HZ)
    assert off[n_on + 10 :].all()  # backdated to the put-down moment
    assert not off[: n_on - 10].any()


def test_still_sleeper_with_breathing_is_worn():
    rng = np.random.default_rng(2)
    n = 40 * 60 * FRAME_HZ
    t = np.arange(n) / FRAME_HZ
    breath = np.sin(2 * np.pi * 0.25 * t)
    sensors = {"thorax": 90 + 0.4 * breath, "pelvis": 90 + 0.08 * breath, "thigh": np.full(n, 88.0)}
    det, k = _run(sensors, rng)
    assert not det.wearer_off(k / FRAME_HZ).any()


def test_one_sensor_left_on_a_table_while_the_wearer_walks():
    rng = np.random.default_rng(3)
    n = 25 * 60 * FRAME_HZ
    t = np.arange(n) / FRAME_HZ
    walk = 15 * np.sin(2 * np.pi * t)
    sensors = {"thigh": walk, "pelvis": 3 * np.sin(2 * np.pi * t), "thorax": np.full(n, 90.0)}
    det = NonWearDetector()
    for a in range(0, n, 100):
        b = min(n, a + 100)
        frames = {loc: _frames(tilt[a:b], rng, K0 + a) for loc, tilt in sensors.items()}
        motion = {"thigh": np.full(b - a, 2.0), "pelvis": np.full(b - a, 1.2), "thorax": np.zeros(b - a)}
        det.add(frames, motion)
    k = K0 + np.arange(n)
    assert det.sensor_off("thorax", k)[100:].mean() > 0.99
    assert not det.sensor_off("thigh", k).any() and not det.sensor_off("pelvis", k).any()
    assert not det.wearer_off(k / FRAME_HZ).any()


def _local(zone: ZoneInfo, day: int, hour: float) -> float:
    return datetime(2026, 3, day, 0, 0, tzinfo=zone).timestamp() + hour * 3600


def test_night_in_bed_with_an_awakening_and_a_nap_that_is_not():
    zone = ZoneInfo("Europe/Berlin")
    t0 = _local(zone, 2, 14.0)
    t = t0 + np.arange(int(20 * 3600 * FRAME_HZ)) / FRAME_HZ
    posture = np.full(len(t), int(Posture.SITTING), np.int8)

    def lie(h0, h1):
        posture[(t >= _local(zone, 2, h0)) & (t < _local(zone, 2, h1))] = Posture.LYING

    lie(15.0, 15.75)  # a 45 min nap
    lie(19.0, 20.0)  # an hour on the sofa in the evening, inside the night window
    lie(23.0, 26.0)  # the night, with a 3 min turn on the bed edge and a 10 min awakening
    posture[(t >= _local(zone, 2, 24.0)) & (t < _local(zone, 2, 24.05))] = Posture.SITTING
    lie(26.0 + 10 / 60, 30.5)
    tracker = InBedTracker(zone=zone)
    for a in range(0, len(t), 6000):
        tracker.add(t[a:a + 6000], posture[a:a + 6000])
    in_bed = tracker.in_bed(t)
    assert not in_bed[t < _local(zone, 2, 22.0)].any()  # not the nap
    night = tracker.nights[-1]
    assert abs(night.start - _local(zone, 2, 23.0)) < 1 and abs(night.end - _local(zone, 2, 30.5)) < 1
    assert len(night.awakenings) == 1 and abs(night.awakenings[0][1] - night.awakenings[0][0] - 600) < 1
    assert in_bed[(t >= _local(zone, 2, 24.0)) & (t < _local(zone, 2, 24.05))].all()  # short gap kept
    assert not in_bed[(t > _local(zone, 2, 26.01)) & (t < _local(zone, 2, 26.15))].any()


def _shifts(n: int, every_s: float, deg: float) -> np.ndarray:
    """A tilt that steps by ``deg`` for 5 s every ``every_s`` (shifting in the chair)."""
    t = np.arange(n) / FRAME_HZ
    return np.where((t % every_s) < 5.0, deg, 0.0)


def test_one_sensor_on_the_desk_while_the_wearer_sits_on():
    rng = np.random.default_rng(4)
    n_on, n_off = 3 * 60 * FRAME_HZ, 15 * 60 * FRAME_HZ
    n = n_on + n_off
    shift = _shifts(n, 45.0, 4.0)
    sensors = {"pelvis": 80 + shift, "thigh": 90 + 0.6 * shift,
               "thorax": np.where(np.arange(n) < n_on, 75 + shift, 0.0)}  # flat on the desk
    det, k = _run(sensors, rng)
    off = det.sensor_off("thorax", k)
    assert off[n_on + 10:].all() and not off[:n_on - 10].any()  # backdated to the put-down
    assert not det.sensor_off("pelvis", k).any() and not det.sensor_off("thigh", k).any()


def test_a_dead_still_thigh_under_a_breathing_trunk_with_one_reach_is_worn():
    rng = np.random.default_rng(5)
    n = 30 * 60 * FRAME_HZ
    t = np.arange(n) / FRAME_HZ
    breath = np.sin(2 * np.pi * 0.25 * t)
    reach = np.where((t > 600) & (t < 606), 20.0, 0.0)  # one reach: a single movement
    sensors = {"thorax": 80 + 0.4 * breath + reach, "pelvis": 80 + 0.08 * breath, "thigh": np.full(n, 90.0)}
    det, k = _run(sensors, rng)
    assert not det.sensor_off("thigh", k).any()
