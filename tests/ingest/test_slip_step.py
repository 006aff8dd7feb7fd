"""Slips while still: one trunk sensor stepping to a new direction at one instant is found (a
pelvis only when the step is over at once in the 10 Hz frames); body movements (slow leans,
reaches that come back, moves of several sensors, big turns of the trunk, a pelvis tilting over a
second or more, a thigh moving on its own) are not."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posturewatch.ingest.slip_step import AFTER_S, BEFORE_S, find_steps, rise_s

SIT = 2
N = 200
T0 = 1_767_600_000
AT = 100  # second of the step
UP = np.array([0.3, 0.0, 0.954])


def _turned(deg: float, at: int = AT, ramp_s: int = 0, back_at: int | None = None) -> np.ndarray:
    """Per-second up of a sensor that turns by ``deg`` at second ``at`` over ``ramp_s`` seconds
    (and turns back at ``back_at``), with a little noise."""
    frac = np.clip((np.arange(N) - at + 1) / max(ramp_s, 1), 0, 1)
    if back_at is not None:
        frac[back_at:] = 0
    rot = Rotation.from_rotvec(np.outer(np.radians(deg) * frac, [0.0, 1.0, 0.0]))
    up = rot.apply(UP) + np.random.default_rng(int(deg * 10) + at).normal(0, 0.003, (N, 3))
    return up / np.linalg.norm(up, axis=1, keepdims=True)


def _find(ups, posture=None):
    seconds = T0 + np.arange(N)
    return find_steps(seconds, ups, np.full(N, SIT) if posture is None else posture, 6.0)


def test_a_thorax_step_is_found_at_its_second():
    (step,) = _find({"thorax": _turned(10.0), "pelvis": _turned(0.0), "thigh": _turned(0.0)})
    assert step.location == "thorax" and step.code == SIT
    assert AT - 2 <= step.second - T0 <= AT
    assert step.moved == pytest.approx(10.0, abs=0.5)


def test_seconds_lost_to_packet_loss_do_not_hide_a_step():
    thorax = _turned(10.0)
    thorax[::9] = np.nan
    assert len(_find({"thorax": thorax, "pelvis": _turned(0.0)})) == 1


@pytest.mark.parametrize("case", ["slow", "comes back", "pelvis too", "too big", "small", "alone"])
def test_body_movements_are_not_slips(case):
    thorax, pelvis = _turned(10.0), _turned(0.0)
    if case == "slow":  # a lean that develops over several seconds
        thorax = _turned(10.0, ramp_s=6)
    elif case == "comes back":  # a reach, back after 10 s
        thorax = _turned(10.0, back_at=AT + 10)
    elif case == "pelvis too":  # leaning from the hips moves both
        pelvis = _turned(5.0)
    elif case == "too big":  # out of a slump in a moment
        thorax = _turned(22.0)
    elif case == "small":
        thorax = _turned(4.0)
    ups = {"thorax": thorax} if case == "alone" else {"thorax": thorax, "pelvis": pelvis}
    assert _find(ups) == []


def _frames(ups: np.ndarray, ramp_s: float) -> tuple[np.ndarray, np.ndarray]:
    """10 Hz frames of a sensor that steps from ``ups[0]`` to ``ups[-1]`` over ``ramp_s`` at
    second ``AT`` (times and unit up directions), little noise."""
    t = T0 + np.arange(N * 10) / 10.0
    frac = np.clip((t - T0 - AT + 0.5) / max(ramp_s, 0.05), 0, 1)
    before, after = np.median(ups[:AT - 2], axis=0), np.median(ups[AT + 2:], axis=0)
    up = before[None, :] * (1 - frac[:, None]) + after[None, :] * frac[:, None]
    up += np.random.default_rng(1).normal(0, 0.001, up.shape)
    return t, up / np.linalg.norm(up, axis=1, keepdims=True)


def test_a_pelvis_step_counts_only_when_it_happens_at_once():
    pelvis = _turned(10.0)
    ups = {"pelvis": pelvis, "thorax": _turned(0.0), "thigh": _turned(0.0)}
    seconds = T0 + np.arange(N)
    (step,) = find_steps(seconds, ups, np.full(N, SIT), 6.0, {"pelvis": _frames(pelvis, 0.4)})
    assert step.location == "pelvis" and AT - 2 <= step.second - T0 <= AT
    # the same per-second picture, but the pelvis took 1.5 s to get there: the body tilting it
    assert find_steps(seconds, ups, np.full(N, SIT), 6.0, {"pelvis": _frames(pelvis, 1.5)}) == []
    assert find_steps(seconds, ups, np.full(N, SIT), 6.0) == []  # not timed: not searched


def test_the_thigh_is_never_searched():
    assert _find({"thigh": _turned(10.0), "thorax": _turned(0.0), "pelvis": _turned(0.0)}) == []


def test_rise_time_of_a_step():
    pelvis = _turned(10.0)
    before, after = np.median(pelvis[:AT - 2], axis=0), np.median(pelvis[AT + 2:], axis=0)
    for ramp, lo, hi in ((0.3, 0.0, 0.35), (2.0, 1.0, 1.4)):
        t, up = _frames(pelvis, ramp)
        assert lo <= rise_s(t, up, before, after) <= hi
    t, up = _frames(pelvis, 0.3)
    assert rise_s(t[: AT * 10 - 20], up[: AT * 10 - 20], before, after) == np.inf  # never got there


def test_a_change_of_posture_inside_the_windows_is_no_step():
    posture = np.full(N, SIT)
    posture[AT + AFTER_S // 2 :] = 3
    assert _find({"thorax": _turned(10.0), "pelvis": _turned(0.0)}, posture) == []
    posture[:] = -1  # not a still posture at all
    assert _find({"thorax": _turned(10.0), "pelvis": _turned(0.0)}, posture) == []


def test_too_short_a_buffer_gives_nothing():
    short = {"thorax": _turned(10.0)[: BEFORE_S + AFTER_S], "pelvis": _turned(0.0)[: BEFORE_S + AFTER_S]}
    assert find_steps(T0 + np.arange(BEFORE_S + AFTER_S), short, np.full(BEFORE_S + AFTER_S, SIT), 6.0) == []
