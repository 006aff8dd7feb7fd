"""10 Hz frames: reduction from samples, and cutting and joining frames without losing any."""

import numpy as np
import pytest

from posturewatch.ingest.frames import FRAME_HZ, SensorFrames, reduce_to_frames, rolling_motion, runs


def _frames(k0: int, count: int, seed: int = 0) -> SensorFrames:
    """Frames reduced from noisy 100 Hz samples (a few frames left without samples)."""
    rng = np.random.default_rng(seed)
    t = np.arange(k0 * 10, (k0 + count) * 10) / 100.0
    acc = np.array([0.0, 0.0, 9.81]) + rng.normal(0, 1.0, (len(t), 3))
    keep = (t < (k0 + 3) / FRAME_HZ) | (t >= (k0 + 5) / FRAME_HZ)  # frames k0+3, k0+4 are gaps
    up = acc / np.linalg.norm(acc, axis=1, keepdims=True)
    return reduce_to_frames(t[keep], up[keep], acc[keep], k0, k0 + count)


def _same(a: SensorFrames, b: SensorFrames) -> None:
    assert a.k0 == b.k0 and len(a) == len(b)
    for name in ("n", "up", "acc", "mag_sum", "mag_sq"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_slices_put_back_together_are_the_frames():
    whole = _frames(1000, 50)
    parts = [whole.slice(0, 7), whole.slice(7, 30), whole.slice(30, 50)]
    assert [(p.k0, p.k1) for p in parts] == [(1000, 1007), (1007, 1030), (1030, 1050)]
    _same(parts[0].concat(*parts[1:]), whole)
    assert whole.n[3] == 0 and np.isnan(whole.up[3]).all()  # a gap stays a gap


def test_slice_follows_python_slice_rules():
    whole = _frames(20, 30)
    _same(whole.slice(-20, len(whole)), whole.slice(10, 30))
    _same(whole.slice(-100, 30), whole)  # more than there is: all of it
    empty = whole.slice(25, 10)
    assert len(empty) == 0 and empty.k0 == 45


def test_motion_over_joined_frames_matches_motion_over_the_whole():
    whole = _frames(0, 60, seed=3)
    tail = whole.slice(20, 40)
    joined = tail.concat(whole.slice(40, 60))
    np.testing.assert_allclose(rolling_motion(joined, 20)[20:], rolling_motion(whole, 20)[40:])


def test_concat_refuses_frames_that_do_not_follow_on():
    a = _frames(0, 10)
    with pytest.raises(ValueError, match="do not follow"):
        a.concat(_frames(11, 5))
    with pytest.raises(ValueError, match="do not follow"):
        a.concat(_frames(5, 10))


def test_covering_fills_gaps_with_empty_frames():
    a, b = _frames(100, 10, seed=1), _frames(115, 5, seed=2)
    out = SensorFrames.covering([a, b], 95, 125)
    assert (out.k0, out.k1) == (95, 125)
    _same(out.slice(5, 15), a)
    _same(out.slice(20, 25), b)
    for gap in (slice(0, 5), slice(15, 20), slice(25, 30)):
        assert (out.n[gap] == 0).all() and np.isnan(out.acc[gap]).all() and (out.mag_sq[gap] == 0).all()
    assert len(SensorFrames.covering([], 10, 10)) == 0
    with pytest.raises(ValueError, match="overlap"):
        SensorFrames.covering([a, a], 95, 125)


def test_runs_encode_labels():
    starts, lengths, values = runs(np.array([3, 3, 4, 4, 4, 3], np.int8))
    assert starts.tolist() == [0, 2, 5] and lengths.tolist() == [2, 3, 1] and values.tolist() == [3, 4, 3]
    assert [len(x) for x in runs(np.zeros(0, np.int8))] == [0, 0, 0]
