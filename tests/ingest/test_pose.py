"""Calibration poses: the stillest window of a recording and its per-location summary."""

import numpy as np

from posturewatch.ingest.pose import STILL_ACC_STD, stillest_window, summarize
from posturewatch.ingest.records import SensorBlock

G = np.array([0.0, 0.0, 9.81])


def _block(location: str, t: np.ndarray, acc: np.ndarray) -> SensorBlock:
    return SensorBlock(location, t, acc, None, None)


def test_stillest_window_picks_the_quiet_part():
    t = np.arange(0, 10, 0.01)
    acc = np.tile(G, (len(t), 1))
    acc[t < 5] += np.random.default_rng(0).normal(0, 1.0, (int((t < 5).sum()), 3))
    a, b = stillest_window(t, acc, 4.0)
    assert t[a] >= 5.0 - 1e-9 and t[b - 1] - t[a] >= 3.9


def test_stillest_window_needs_enough_data():
    t = np.arange(0, 2, 0.01)
    assert stillest_window(t, np.tile(G, (len(t), 1)), 4.0) is None


def test_summary_per_location_says_why_a_pose_is_unusable():
    rng = np.random.default_rng(1)
    t = np.arange(0, 6, 0.01)
    still = np.tile(G, (len(t), 1)) + rng.normal(0, 0.02, (len(t), 3))
    shaky = np.tile(G, (len(t), 1)) + rng.normal(0, 1.0, (len(t), 3))
    short = t[:100]
    # the still sensor arrives in two blocks: they are joined before the window is searched
    blocks = [_block("pelvis", t[:300], still[:300]), _block("pelvis", t[300:], still[300:]),
              _block("thigh", t, shaky), _block("thorax", short, still[:100])]
    out = summarize(blocks, 4.0)
    np.testing.assert_allclose(out["pelvis"]["acc_mean"], G, atol=0.01)
    assert "error" not in out["pelvis"] and out["pelvis"]["samples"] == 400
    assert max(out["thigh"]["acc_std"]) > STILL_ACC_STD and "not still enough" in out["thigh"]["error"]
    assert out["thorax"] == {"error": "only 1.0 s of data"}
