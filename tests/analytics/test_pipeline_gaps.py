"""A 30-day gap inside one stream: nothing is framed over it, the analysis restarts after it."""

from __future__ import annotations

import numpy as np

from posturewatch.alerts.monitor import Monitor
from posturewatch.ingest.frames import FRAME_HZ, frame_index
from posturewatch.ingest.records import GRAVITY, SensorBlock

RATE = 25.0
T0 = 1_774_000_000.0
GAP_S = 30 * 86400.0


def _still(location: str, t0: float, seconds: float, up: int) -> SensorBlock:
    rng = np.random.default_rng(len(location))
    t = t0 + np.arange(int(seconds * RATE)) / RATE
    acc = np.zeros((len(t), 3))
    acc[:, up] = GRAVITY
    acc += rng.normal(0, 0.02, acc.shape)
    return SensorBlock(location, t, acc, rng.normal(0, 0.002, acc.shape))


def _pieces(block: SensorBlock, step_s: float = 10.0):
    edges = np.arange(block.t[0], block.t[-1] + step_s, step_s)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        lo, hi = np.searchsorted(block.t, [a, b])
        yield block.slice(int(lo), int(hi))


def test_a_month_long_gap_is_jumped_not_framed():
    monitor = Monitor()
    spans = [(T0, 300.0), (T0 + 300.0 + GAP_S, 240.0)]
    frames, days = [], []
    expected = 0
    for t0, seconds in spans:
        pelvis, thigh = _still("pelvis", t0, seconds, 0), _still("thigh", t0, seconds, 0)
        first, last = min(pelvis.t[0], thigh.t[0]), max(pelvis.t[-1], thigh.t[-1])
        expected += int(frame_index(np.array([last]))[0] - frame_index(np.array([first]))[0]) + 1
        for p, th in zip(_pieces(pelvis), _pieces(thigh), strict=True):
            step = monitor.push([p, th])
            frames.append(step.frames.t)
            days += step.days
    step = monitor.close()
    frames.append(step.frames.t)
    days += step.days
    t = np.concatenate(frames)
    # one frame per tenth of a second of data, none for the month between
    assert len(t) == expected
    steps = np.diff(t)
    assert np.allclose(steps[steps < 1.0], 1.0 / FRAME_HZ)
    assert (steps >= 1.0).sum() == 1 and steps.max() > GAP_S - 1
    assert monitor.pipeline.counters["segments_after_gaps"] == 1
    # a day on each side of the gap, each with its own data only (no empty days in between)
    assert [d.day for d in days] == ["2026-03-20", "2026-04-19"]
    assert [round(d.tally.seconds.sum()) for d in days] == [300, 240]
