"""Per-second agreement once a posture has settled, and the short-bout share of it."""

import numpy as np

from posturewatch.analytics.scoring import per_second_majority, score_settled


def test_first_seconds_after_a_change_are_left_out_and_short_bouts_scored_apart():
    true = np.array([3] * 20 + [2] * 5 + [3] * 20)  # a 5 s sitting bout inside standing
    t = 1000 + np.arange(len(true))
    pred = true.copy()
    pred[20:22] = 3  # late by 2 s: the settling seconds, not scored
    s = score_settled(t, pred, t, true)
    assert s.short_bouts == 1 and s.short_seconds == 3 and s.short == 1.0
    assert s.seconds == len(true) - 4 and s.overall == 1.0
    pred[22] = 3  # a third second late is an error, in the short bout
    s = score_settled(t, pred, t, true)
    assert s.short == 2 / 3 and s.overall < 1.0
    assert score_settled(t, pred, t, true, skip=(2,)).short_seconds == 0  # sitting not scored


def test_per_second_majority_of_frames():
    t = 1000 + np.arange(30) / 10.0
    codes = np.array([2] * 6 + [3] * 4 + [3] * 10 + [1] * 3 + [4] * 7)
    sec, major = per_second_majority(t, codes)
    assert sec.tolist() == [1000, 1001, 1002] and major.tolist() == [2, 3, 4]
