"""Undefined angles (side lying) stay undefined through the 1 Hz rollup, the line protocol and the
embedded store: NaN in, NaN/absent out, and no numpy warning on the way."""

from __future__ import annotations

import warnings

import numpy as np

from posturewatch.analytics.records import Posture
from posturewatch.ingest.angles import sagittal_inclination, sagittal_undefined, segment_angles
from posturewatch.ingest.records import ANGLE_NAMES
from posturewatch.store.lines import angle_lines
from posturewatch.store.rollup import SecondRollup, per_second
from posturewatch.store.sqlite import SqliteStore

T0 = 1_709_553_600.0  # 2024-03-04 12:00 UTC


def _side_lying_frames():
    """30 frames at 10 Hz: 1 s supine, 1 s on the side (gravity along the left axis), then 1 s
    half and half; every segment alike."""
    supine, side = np.array([0.0, 1.0, 0.0]), np.array([0.02, 0.05, 0.998])
    up = np.array([supine] * 10 + [side] * 10 + [supine, side] * 5)
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    locs = ("pelvis", "thigh", "thorax", "head")
    theta = {loc: sagittal_inclination(up) for loc in locs}
    undefined = {loc: sagittal_undefined(up) for loc in locs}
    t = T0 + np.arange(30) / 10.0
    return t, segment_angles(theta, 30, undefined), np.full(30, int(Posture.LYING))


def test_undefined_seconds_stay_nan_through_rollup_lines_and_store(tmp_path):
    t, angles, posture = _side_lying_frames()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        whole = per_second(t, angles, posture)
        roll = SecondRollup()
        parts = [roll.push(t[a:b], {k: v[a:b] for k, v in angles.items()}, posture[a:b])
                 for a, b in ((0, 7), (7, 15), (15, 30))]
        parts.append(roll.flush())
        lines = angle_lines("u", whole)
        store = SqliteStore(tmp_path / "s.db")
        store.write_angles("u", whole)
        back = store.angles_on("u", "2024-03-04")
        store.close()
    streamed = {k: np.concatenate([p.angles[k] for p in parts]) for k in ANGLE_NAMES}
    for name in ANGLE_NAMES:
        values = whole.angles[name]
        assert np.isnan(values[1]), name  # the side-lying second: undefined, not a number
        assert np.isfinite(values[[0, 2]]).all(), name  # a partly defined second: its defined frames
        supine = angles[name][:10].mean()
        np.testing.assert_allclose(values[[0, 2]], supine)
        np.testing.assert_array_equal(streamed[name], values)
        np.testing.assert_array_equal(back.angles[name], values)
        assert f"{name}=" not in lines[1] and f"{name}=" in lines[0]
    assert "nan" not in " ".join(lines).lower()
