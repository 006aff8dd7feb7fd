"""The truth labeler follows the EPISODE RULES on hand-built 10 Hz series."""

from __future__ import annotations

import numpy as np
import pytest

from posturewatch.simulators.truth import label_episodes, runs

T0 = 1_000_000.0
DT = 0.1


class Series:
    """A hand-built 10 Hz day: neutral sitting unless a span is set."""

    def __init__(self, seconds: float, posture: str = "sitting") -> None:
        n = int(round(seconds / DT))
        self.t = T0 + np.arange(n) * DT
        self.angles = {
            "pelvic_tilt": np.full(n, -5.0),
            "thigh_inclination": np.full(n, 90.0),
            "trunk_inclination": np.full(n, 3.0),
            "neck_flexion": np.full(n, 5.0),
        }
        self.posture = np.full(n, posture, dtype=object)

    def _idx(self, a: float, b: float) -> slice:
        return slice(int(round(a / DT)), int(round(b / DT)))

    def set(self, name: str, a: float, b: float, value) -> Series:
        target = self.posture if name == "posture" else self.angles[name]
        target[self._idx(a, b)] = value
        return self

    def episodes(self, kind: str | None = None, head: bool = False):
        a = dict(self.angles)
        a["hip_flexion"] = a["thigh_inclination"] + a["pelvic_tilt"]
        a["lumbar_flexion"] = a["trunk_inclination"] - a["pelvic_tilt"]
        eps = label_episodes(self.t, a, self.posture, head=head)
        return [e for e in eps if kind is None or e.kind == kind]


def rel(x: float) -> float:
    return round(x - T0, 3)


def test_runs_finds_first_and_last_index():
    a, b = runs(np.array([0, 1, 1, 0, 1, 0, 0, 1], dtype=bool))
    assert a.tolist() == [1, 4, 7] and b.tolist() == [2, 4, 7]


def test_posterior_tilt_is_backdated_and_ends_when_hold_fails():
    s = Series(600).set("pelvic_tilt", 100, 200, -20.0)
    (ep,) = s.episodes("posterior_tilt")
    assert (rel(ep.start), rel(ep.confirmed), rel(ep.end)) == (100.0, 160.0, 200.0)
    assert ep.peak == -20.0 and ep.mean == pytest.approx(-20.0)


def test_candidate_released_before_sustain_is_dropped():
    s = Series(600).set("pelvic_tilt", 100, 145, -20.0)  # released at 155 < 160
    assert s.episodes("posterior_tilt") == []


def test_candidate_still_alive_at_sustain_is_confirmed_even_if_hold_already_failed():
    # The rules check SUSTAIN while the candidate is alive, and it stays alive until RELEASE:
    # H fails at 155, the candidate turns 60 s old at 160, release would come at 165.
    s = Series(600).set("pelvic_tilt", 100, 155, -20.0)
    (ep,) = s.episodes("posterior_tilt")
    assert (rel(ep.start), rel(ep.confirmed), rel(ep.end)) == (100.0, 160.0, 155.0)


def test_hysteresis_hold_keeps_episode_open_between_thresholds():
    # −13 is not ENTER (≤ −15) but is HOLD (≤ −12): the episode lasts until it rises above −12
    s = Series(900).set("pelvic_tilt", 100, 180, -20.0).set("pelvic_tilt", 180, 400, -13.0)
    (ep,) = s.episodes("posterior_tilt")
    assert (rel(ep.start), rel(ep.end)) == (100.0, 400.0)
    # a HOLD-only stretch never starts an episode by itself
    assert Series(900).set("pelvic_tilt", 100, 400, -13.0).episodes("posterior_tilt") == []


def test_short_interruptions_are_bridged_and_long_ones_split():
    bridged = Series(900).set("pelvic_tilt", 100, 180, -20.0).set("pelvic_tilt", 189, 240, -20.0)
    (ep,) = bridged.episodes("posterior_tilt")
    assert (rel(ep.start), rel(ep.end)) == (100.0, 240.0)
    split = Series(900).set("pelvic_tilt", 100, 180, -20.0).set("pelvic_tilt", 191, 300, -20.0)
    first, second = split.episodes("posterior_tilt")
    assert (rel(first.start), rel(first.end)) == (100.0, 180.0)
    assert (rel(second.start), rel(second.confirmed), rel(second.end)) == (191.0, 251.0, 300.0)


def test_candidate_survives_a_short_gap_and_confirms_from_its_first_onset():
    s = Series(600).set("pelvic_tilt", 100, 140, -20.0).set("pelvic_tilt", 145, 175, -20.0)
    (ep,) = s.episodes("posterior_tilt")
    assert (rel(ep.start), rel(ep.confirmed), rel(ep.end)) == (100.0, 160.0, 175.0)


def test_missing_data_shorter_than_release_is_bridged_longer_releases():
    short = Series(900).set("pelvic_tilt", 100, 300, -20.0).set("pelvic_tilt", 150, 158, np.nan)
    assert len(short.episodes("posterior_tilt")) == 1
    long = Series(900).set("pelvic_tilt", 100, 300, -20.0).set("pelvic_tilt", 180, 195, np.nan)
    first, _second = long.episodes("posterior_tilt")
    assert rel(first.end) == 180.0
    unknown = Series(900).set("pelvic_tilt", 100, 300, -20.0).set("posture", 180, 195, "unknown")
    assert rel(unknown.episodes("posterior_tilt")[0].end) == 180.0


def test_posture_gate_lying_and_walking_never_count():
    for posture in ("lying", "walking"):
        s = Series(600, posture=posture).set("pelvic_tilt", 100, 300, -25.0)
        assert s.episodes("posterior_tilt") == []
    standing = Series(600, posture="standing").set("pelvic_tilt", 100, 300, -25.0)
    assert len(standing.episodes("posterior_tilt")) == 1


def test_forward_head_band_and_head_condition():
    s = Series(900).set("trunk_inclination", 100, 300, 25.0)
    (ep,) = s.episodes("forward_head")
    assert (rel(ep.start), rel(ep.end), ep.peak) == (100.0, 300.0, 25.0)
    assert s.episodes("forward_head", head=True) == []  # neck 5° < 20°
    s.set("neck_flexion", 100, 300, 25.0)
    assert len(s.episodes("forward_head", head=True)) == 1
    # a bend (≥ 45°) is not forward head
    assert Series(900).set("trunk_inclination", 100, 300, 50.0).episodes("forward_head") == []
    # hold band 17..20: keeps it open but does not start it
    s2 = Series(900).set("trunk_inclination", 100, 200, 25.0).set("trunk_inclination", 200, 400, 18.0)
    assert rel(s2.episodes("forward_head")[0].end) == 400.0


def test_prolonged_sitting_bridges_short_breaks_and_ends_at_a_long_one():
    s = Series(3600, posture="sitting").set("posture", 0, 60, "standing")
    s.set("posture", 600, 650, "standing")  # 50 s break: bridged
    s.set("posture", 2000, 2100, "walking")  # 100 s break ends the bout
    (ep,) = s.episodes("prolonged_sitting")
    assert (rel(ep.start), rel(ep.confirmed), rel(ep.end)) == (60.0, 1860.0, 2000.0)
    assert ep.peak == pytest.approx((2000 - 60) / 60)
    # the bout after the break reaches the end of the data: 1500 s, too short
    short = Series(3600, posture="sitting").set("posture", 1500, 1570, "standing")
    assert [rel(e.start) for e in short.episodes("prolonged_sitting")] == [1570.0]
    assert Series(1790, posture="sitting").episodes("prolonged_sitting") == []


def test_lumbar_bend_at_the_deepest_point_with_short_gaps_bridged():
    s = Series(120, posture="standing").set("pelvic_tilt", 0, 120, 0.0)
    s.set("thigh_inclination", 0, 120, 0.0)
    s.set("trunk_inclination", 10, 14, 70.0).set("pelvic_tilt", 10, 14, 15.0)  # with the back
    s.set("trunk_inclination", 11, 11.3, 40.0)  # 0.3 s dip: bridged
    s.set("trunk_inclination", 12, 12.1, 78.0)  # the deepest point
    s.set("trunk_inclination", 40, 44, 75.0).set("pelvic_tilt", 40, 44, 60.0)  # with the hips
    (ep,) = s.episodes("lumbar_bend")
    assert (rel(ep.start), rel(ep.end)) == (10.0, 14.0)
    assert ep.peak == pytest.approx(63.0)
    s.set("trunk_inclination", 11, 11.7, 40.0)  # 0.7 s gap: two bends
    assert [rel(e.start) for e in s.episodes("lumbar_bend")] == [10.0, 11.7]
