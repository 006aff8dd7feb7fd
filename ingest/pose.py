"""Calibration poses from raw samples: the stillest stretch of what was recorded while the wearer
held a pose, and its mean specific force per location (which way is up for each sensor).

``posturewatch calibrate`` and the live calibration command both use this; ``from_pose`` in
``mounting`` turns the result into a calibration.
"""

from __future__ import annotations

import numpy as np

from posturewatch.ingest.records import SensorBlock

STILL_ACC_STD = 0.15  # m/s²: more than this in any axis is not standing still


def stillest_window(t: np.ndarray, acc: np.ndarray, window_s: float) -> tuple[int, int] | None:
    """Index range of the ``window_s`` stretch with the least acceleration spread, or None."""
    if len(t) < 3 or t[-1] - t[0] < window_s * 0.95:
        return None
    ends = np.searchsorted(t, t + window_s)
    starts = np.nonzero(ends < len(t))[0]
    if starts.size == 0:
        starts = np.array([0])
    # Spread from prefix sums of x and x² per axis: every window at once, no Python loop.
    c1 = np.vstack([np.zeros(3), np.cumsum(acc, axis=0)])
    c2 = np.vstack([np.zeros(3), np.cumsum(acc**2, axis=0)])
    n = (ends[starts] - starts)[:, None]
    mean = (c1[ends[starts]] - c1[starts]) / n
    var = (c2[ends[starts]] - c2[starts]) / n - mean**2
    best = int(np.argmin(var.max(axis=1)))
    return int(starts[best]), int(ends[starts[best]])


def summarize(blocks: list[SensorBlock], window_s: float) -> dict:
    """Per location the stillest window's mean acceleration, or why there is none."""
    by_location: dict[str, list[SensorBlock]] = {}
    for block in blocks:
        by_location.setdefault(block.location, []).append(block)
    result = {}
    for location, parts in by_location.items():
        t = np.concatenate([p.t for p in parts])
        acc = np.concatenate([p.acc for p in parts])
        span = stillest_window(t, acc, window_s)
        if span is None:
            result[location] = {"error": f"only {t[-1] - t[0]:.1f} s of data"}
            continue
        a, b = span
        std = acc[a:b].std(axis=0)
        entry = {"acc_mean": acc[a:b].mean(axis=0).round(5).tolist(),
                 "acc_std": std.round(5).tolist(), "samples": b - a,
                 "start": float(t[a]), "end": float(t[b - 1])}
        if std.max() > STILL_ACC_STD:
            entry["error"] = f"not still enough (acc spread {std.max():.2f} m/s²)"
        result[location] = entry
    return result
