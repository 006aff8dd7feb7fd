"""Episode detectors against hand-built 10 Hz series: backdating, hysteresis, bridging, streaming."""

import math

import numpy as np
import pytest

from posturewatch.analytics.episodes import EpisodeDetectors, Frames
from posturewatch.analytics.records import Posture
from posturewatch.ingest.records import ANGLE_NAMES

HZ = 10
T0 = 1_000_000.0


def series(segments):
    """[(seconds, posture, {angle: value})] → Frames at 10 Hz."""
    post, ang = [], {a: [] for a in ANGLE_NAMES}
    for secs, p, values in segments:
        n = int(secs * HZ)
        post += [p] * n
        for a in ANGLE_NAMES:
            ang[a] += [values.get(a, 0.0)] * n
    n = len(post)
    return Frames(T0 + np.arange(n) / HZ, np.array(post, np.int8),
                  {a: np.array(v, float) for a, v in ang.items()}, 1 / HZ)


def detect(frames, block=None):
    det = EpisodeDetectors()
    events = []
    step = block or len(frames.t)
    for a in range(0, len(frames.t), step):
        sl = slice(a, a + step)
        events += det.push(Frames(frames.t[sl], frames.posture[sl],
                                  {k: v[sl] for k, v in frames.angles.items()}, frames.dt))
    events += det.close(frames.t[-1] + frames.dt)
    return events


def ended(events, kind):
    return [e.episode for e in events if e.type == "end" and e.episode.kind == kind]


S, W = Posture.SITTING, Posture.WALKING


@pytest.mark.parametrize("block", [None, 7, 100, 613])
def test_posterior_tilt_backdated_with_hysteresis_and_bridging(block):
    f = series([
        (30, S, {"pelvic_tilt": -5}),
        (50, S, {"pelvic_tilt": -18}),
        (5, S, {"pelvic_tilt": -5}),     # shorter than the 10 s release: bridged
        (40, S, {"pelvic_tilt": -13}),   # between hold (−12) and enter (−15): still held
        (30, S, {"pelvic_tilt": -5}),
    ])
    events = detect(f, block)
    eps = ended(events, "posterior_tilt")
    assert len(eps) == 1
    ep = eps[0]
    assert ep.start == pytest.approx(T0 + 30, abs=0.11)
    assert ep.confirmed == pytest.approx(T0 + 90, abs=0.11)
    assert ep.end == pytest.approx(T0 + 125, abs=0.11)
    assert ep.peak == pytest.approx(-18)
    starts = [e for e in events if e.type == "start" and e.episode.kind == "posterior_tilt"]
    assert len(starts) == 1 and starts[0].ts == pytest.approx(T0 + 90, abs=0.11)


def test_short_tilt_and_walking_are_not_episodes():
    f = series([(50, S, {"pelvic_tilt": -20}), (20, S, {"pelvic_tilt": 0}),
                (120, W, {"pelvic_tilt": -20})])
    assert ended(detect(f), "posterior_tilt") == []


def test_forward_head_needs_trunk_below_bend_and_head_when_present():
    f = series([(70, S, {"trunk_inclination": 25, "neck_flexion": 25}), (20, S, {})])
    assert len(ended(detect(f), "forward_head")) == 1
    g = series([(70, S, {"trunk_inclination": 25, "neck_flexion": 5}), (20, S, {})])
    assert ended(detect(g), "forward_head") == []
    h = series([(70, Posture.STANDING, {"trunk_inclination": 50, "neck_flexion": np.nan}), (20, S, {})])
    assert ended(detect(h), "forward_head") == []


@pytest.mark.parametrize("block", [None, 997])
def test_prolonged_sitting_bridges_short_breaks(block):
    f = series([(10, W, {}), (20 * 60, S, {}), (40, W, {}), (15 * 60, S, {}), (90, W, {}), (10, S, {})])
    eps = ended(detect(f, block), "prolonged_sitting")
    assert len(eps) == 1
    assert eps[0].start == pytest.approx(T0 + 10, abs=0.11)
    assert eps[0].end == pytest.approx(T0 + 10 + 35 * 60 + 40, abs=0.11)


def test_sitting_just_under_the_limit_is_not_an_episode():
    f = series([(29.5 * 60, S, {}), (120, W, {})])
    assert ended(detect(f), "prolonged_sitting") == []


def test_lumbar_bend_is_judged_at_the_deepest_point():
    back = {"trunk_inclination": 75, "lumbar_flexion": 60, "hip_flexion": 15}
    hips = {"trunk_inclination": 75, "lumbar_flexion": 15, "hip_flexion": 60}
    f = series([(5, Posture.STANDING, {}), (3, Posture.STANDING, back), (5, Posture.STANDING, {}),
                (3, Posture.STANDING, hips), (5, Posture.STANDING, {})])
    eps = ended(detect(f), "lumbar_bend")
    assert len(eps) == 1
    assert eps[0].start == pytest.approx(T0 + 5, abs=0.11)
    assert eps[0].end == pytest.approx(T0 + 8, abs=0.11)
    assert eps[0].peak == pytest.approx(60)


def test_ids_are_stable_across_runs():
    f = series([(70, S, {"pelvic_tilt": -20}), (20, S, {})])
    a = [e.episode.id for e in detect(f)]
    b = [e.episode.id for e in detect(f, 33)]
    assert a == b and len(set(a)) == 1


def test_lost_sensor_does_not_split_a_sitting_bout():
    U = Posture.UNKNOWN
    f = series([(40 * 60, S, {}), (90, U, {}), (40 * 60, S, {}), (120, W, {})])
    eps = ended(detect(f), "prolonged_sitting")
    assert len(eps) == 1
    assert eps[0].end == pytest.approx(T0 + 80 * 60 + 90, abs=0.11)


def test_lying_ends_a_sitting_bout():
    f = series([(40 * 60, S, {}), (20 * 60, Posture.LYING, {}), (40 * 60, S, {}), (120, W, {})])
    assert len(ended(detect(f), "prolonged_sitting")) == 2


def test_lost_data_neither_holds_nor_ends_an_episode_unless_it_lasts():
    tilt = {"pelvic_tilt": -20}
    gap = {"pelvic_tilt": np.nan}
    short = series([(90, S, tilt), (40, S, gap), (90, S, tilt), (30, S, {})])
    eps = ended(detect(short), "posterior_tilt")
    assert len(eps) == 1 and eps[0].end == pytest.approx(T0 + 220, abs=0.11)
    long = series([(90, S, tilt), (180, S, gap), (90, S, tilt), (30, S, {})])
    eps = ended(detect(long, 77), "posterior_tilt")
    assert len(eps) == 2 and eps[0].end == pytest.approx(T0 + 90, abs=0.11)


L, ST = Posture.LYING, Posture.STANDING
UNDEFINED = {a: np.nan for a in ANGLE_NAMES}  # side lying: every sagittal angle undefined
GARBAGE = {"pelvic_tilt": -90, "trunk_inclination": 90, "lumbar_flexion": 180, "hip_flexion": -180,
           "neck_flexion": 25}  # what side lying gave before angles could be undefined


@pytest.mark.parametrize("block", [None, 61])
@pytest.mark.parametrize("lying", [UNDEFINED, GARBAGE], ids=["undefined", "garbage"])
def test_no_episode_of_any_kind_while_lying(block, lying):
    f = series([(30, ST, {}), (300, L, lying), (30, ST, {})])
    assert [e for e in detect(f, block) if e.episode.kind != "prolonged_sitting"] == []


@pytest.mark.parametrize("block", [None, 45])
def test_lying_with_undefined_angles_ends_a_tilt_at_once_not_after_the_gap_limit(block):
    f = series([(90, S, {"pelvic_tilt": -20}), (300, L, UNDEFINED), (30, S, {})])
    events = [e for e in detect(f, block) if e.episode.kind == "posterior_tilt"]
    assert [e.type for e in events] == ["start", "end"]
    assert events[1].episode.end == pytest.approx(T0 + 90, abs=0.11)
    assert events[1].ts == pytest.approx(T0 + 100, abs=0.11)  # the release time, not 120 s of gap


def test_undefined_angle_while_upright_is_a_gap_not_an_end():
    f = series([(90, S, {"pelvic_tilt": -20}), (30, S, {"pelvic_tilt": np.nan}),
                (60, S, {"pelvic_tilt": -20}), (30, S, {})])
    eps = ended(detect(f), "posterior_tilt")
    assert len(eps) == 1 and eps[0].end == pytest.approx(T0 + 180, abs=0.11)


def test_leaning_forward_into_and_out_of_prone_lying_is_not_a_bend():
    lean = {"trunk_inclination": 60, "lumbar_flexion": 20, "hip_flexion": -20}
    back = {"trunk_inclination": 75, "lumbar_flexion": 60, "hip_flexion": 15}
    prone = {"trunk_inclination": 90, "lumbar_flexion": -10, "hip_flexion": 5}
    f = series([(10, ST, {}), (0.4, ST, lean), (60, L, prone), (0.3, ST, lean), (10, ST, {}),
                (3, ST, back), (10, ST, {})])
    eps = ended(detect(f), "lumbar_bend")
    assert len(eps) == 1  # only the real bend with the back
    assert eps[0].start == pytest.approx(T0 + 80.7, abs=0.11)


# ---- where open episodes' conditions stopped (the alert policy's view of pending ends) ----


def stops_and_ends(frames: Frames, block: int | None):
    """Stops merged over blocks (a stop still open at a block's end continues in the next),
    with each end counted as a stop from the end on, the way the alert monitor passes them."""
    det = EpisodeDetectors()
    stops: dict[tuple[str, float], float] = {}
    ends = {}
    step = block or len(frames.t)
    for a in range(0, len(frames.t), step):
        sl = slice(a, a + step)
        events = det.push(Frames(frames.t[sl], frames.posture[sl],
                                 {k: v[sl] for k, v in frames.angles.items()}, frames.dt))
        for episode_id, since, until in det.stops():
            key = (episode_id, round(since, 3))
            stops[key] = min(until, stops.get(key, math.inf))
        for e in events:
            if e.type == "end":
                ends[e.episode.id] = e.episode.end
                stops[(e.episode.id, round(e.episode.end, 3))] = math.inf
    return stops, ends


@pytest.mark.parametrize("block", [None, 7, 100, 613])
def test_tilt_pauses_and_the_final_stop(block):
    f = series([
        (30, S, {"pelvic_tilt": -5}),
        (70, S, {"pelvic_tilt": -18}),
        (5, S, {"pelvic_tilt": -5}),     # a pause the detector bridges
        (40, S, {"pelvic_tilt": -18}),
        (30, S, {"pelvic_tilt": -5}),    # the stop that ends the episode
    ])
    stops, ends = stops_and_ends(f, block)
    (episode_id,) = ends
    assert sorted(stops.items()) == [
        ((episode_id, pytest.approx(T0 + 100)), pytest.approx(T0 + 105)),
        ((episode_id, pytest.approx(T0 + 145)), math.inf),
    ]
    assert ends[episode_id] == pytest.approx(T0 + 145)  # the end is backdated to the stop


@pytest.mark.parametrize("block", [None, 50, 997])
def test_sitting_breaks_are_stops_of_the_open_bout(block):
    f = series([(10, W, {}), (31 * 60, S, {}), (40, W, {}), (5 * 60, S, {}), (90, W, {})])
    stops, ends = stops_and_ends(f, block)
    (episode_id,) = [e for e in ends if e.startswith("prolonged_sitting")]
    breaks = sorted((since - T0, until - T0) for (ep, since), until in stops.items() if ep == episode_id)
    assert breaks == [(pytest.approx(1870), pytest.approx(1910)), (pytest.approx(2210), math.inf)]
    assert ends[episode_id] - T0 == pytest.approx(2210)


def test_no_stops_without_an_open_episode():
    # a tilt shorter than the sustain time is no episode, so its stop is nobody's concern
    det = EpisodeDetectors()
    det.push(series([(30, S, {"pelvic_tilt": -18}), (30, S, {"pelvic_tilt": -5})]))
    assert det.stops() == []
