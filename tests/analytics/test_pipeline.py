"""The block-wise pipeline: bad and late samples are counted and dropped, a sensor that joins late
stays aligned with the frames, and a sensor that slips while walking or while seated is followed
(trunk angle error and forward-head episodes scored against the simulator's truth)."""

import numpy as np
import pytest

from posturewatch.analytics.pipeline import POSTURE_DELAY_S, Pipeline
from posturewatch.analytics.scoring import score_episodes
from posturewatch.ingest.records import SensorBlock
from posturewatch.simulators.config import Realism, WearerConfig
from posturewatch.simulators.wearer import iter_blocks, simulate
from posturewatch.store.rollup import per_second

T0 = 1_767_600_000.0
RATE = 50.0


def _still(location: str, t0: float, seconds: float, up=(1.0, 0.0, 0.0)) -> SensorBlock:
    t = t0 + np.arange(int(seconds * RATE)) / RATE
    acc = np.tile(9.81 * np.asarray(up), (len(t), 1)) + np.random.default_rng(0).normal(0, 0.02, (len(t), 3))
    return SensorBlock(location, t, acc, np.zeros((len(t), 3)), None)


def _run(pipeline: Pipeline, pushes) -> dict:
    outs = [pipeline.push(blocks, until) for blocks, until in pushes] + [pipeline.close()]
    present: dict[str, list] = {}
    for o in outs:
        for loc in o.present:
            present.setdefault(loc, []).append((o.t, o.present[loc]))
    return {"t": np.concatenate([o.t for o in outs]), "present": present}


def test_a_sensor_that_joins_late_is_absent_before_it_joined_and_aligned_after():
    pipe = Pipeline()
    out = _run(pipe, [([_still("pelvis", T0, 30)], T0 + 30),
                      ([_still("pelvis", T0 + 30, 60), _still("thigh", T0 + 40, 50)], T0 + 90)])
    assert len(out["t"]) == 900
    for t, present in out["present"]["thigh"]:
        assert len(present) == len(t)  # one flag per frame, whatever was pending when it joined
        np.testing.assert_array_equal(present, (t >= T0 + 40) & (t < T0 + 90))
    assert all(p.all() for _, p in out["present"]["pelvis"])


def test_bad_and_late_samples_are_counted_and_dropped():
    pipe = Pipeline()
    first = _still("pelvis", T0, 40)
    first.acc[100:110] = np.nan
    first.t[200] = first.t[199]  # a repeated timestamp
    pipe.push([first], T0 + 40)
    late = _still("pelvis", T0 + 30, 20)  # 10 s of it are before the frames already made
    out = pipe.push([late], T0 + 50)
    assert pipe.counters["pelvis_bad_samples"] == 11
    assert pipe.counters["pelvis_late_samples"] == 10 * RATE
    # emitted frames are in order and none repeats
    assert np.all(np.diff(out.t) > 0) and out.t[-1] <= T0 + 50 - POSTURE_DELAY_S


def test_nothing_finite_gives_nothing():
    pipe = Pipeline()
    block = _still("thigh", T0, 5)
    block.t[:] = np.nan
    assert len(pipe.push([block])) == 0 and pipe.counters["thigh_bad_samples"] == 250
    assert len(pipe.close()) == 0


def _live(config: WearerConfig) -> tuple[Pipeline, list]:
    pipe = Pipeline()
    outs = [pipe.push(list(chunk.values())) for chunk in iter_blocks(config, chunk_s=60.0)] + [pipe.close()]
    return pipe, outs


def _trunk_error(day, outs) -> tuple[np.ndarray, np.ndarray]:
    """Truth seconds and the |error| of the trunk inclination at each (deg, NaN without output)."""
    t = np.concatenate([o.t for o in outs])
    angles = {k: np.concatenate([o.angles[k] for o in outs]) for k in outs[0].angles}
    sec = per_second(t, angles, np.concatenate([o.posture for o in outs]))
    trunk = sec.angles["trunk_inclination"]
    est = dict(zip(np.round(sec.t).astype(int).tolist(), trunk.tolist(), strict=True))
    truth_t, truth = day.truth.t_1hz, day.truth.angles_1hz["trunk_inclination"]
    err = [abs(est.get(int(round(a)), np.nan) - b) for a, b in zip(truth_t, truth, strict=True)]
    return truth_t, np.array(err)


@pytest.mark.slow
def test_a_slip_seen_walking_is_noticed_and_the_trunk_angle_recovers():
    config = WearerConfig(hours=3, seed=11)
    day = simulate(config)
    slip = day.meta["slip"]
    assert slip["location"] == "thorax"
    pipe, outs = _live(config)
    assert pipe.counters["thorax_slips"] == 1
    (when, note), = [(ts, n) for ts, n in pipe.calibration_log if "moved" in n]
    print(f"slip of {slip['deg']:.1f}° at {slip['time']:.0f}, noticed {when - slip['time']:.0f} s later")
    assert slip["time"] < when < slip["time"] + 1800
    assert note.startswith("thorax: sensor moved by ") and "seen walking" in note
    truth_t, err = _trunk_error(day, outs)
    slipped = (truth_t > slip["time"] + 10) & (truth_t < when)
    followed = truth_t > when + 5
    print(f"trunk inclination |error|: slipped {np.nanmedian(err[slipped]):.2f}°, "
          f"after re-calibration {np.nanmedian(err[followed]):.2f}°")
    assert np.nanmedian(err[slipped]) > 4.0  # the slip did tilt the trunk angle
    assert np.nanmedian(err[followed]) < 1.0


@pytest.mark.slow
def test_a_thorax_slip_while_seated_is_followed_within_seconds():
    config = WearerConfig(hours=3, seed=7, realism=Realism(slip_while="seated"))
    day = simulate(config)
    slip = day.meta["slip"]
    assert slip["location"] == "thorax"
    pipe, outs = _live(config)
    (when, note), = [(ts, n) for ts, n in pipe.calibration_log if "moved" in n]
    print(f"slip of {slip['deg']:.1f}° at {slip['time']:.0f}: {note} ({when - slip['time']:+.0f} s)")
    assert abs(when - slip["time"]) <= 5 and "a step while sitting" in note
    assert pipe.counters["thorax_slips"] == 1
    truth_t, err = _trunk_error(day, outs)
    after = truth_t > slip["time"] + 200  # the correction is made once the minute after the step is final
    print(f"trunk inclination |error| after the slip: median {np.nanmedian(err[after]):.2f}°")
    assert np.nanmedian(err[after]) < 1.0
    ended = [e.episode for o in outs for e in o.events if e.type == "end"]
    found = [(e.kind, e.start, e.end) for e in ended]
    truth = [(e.kind, e.start, e.end) for e in day.truth.episodes]
    score = score_episodes(found, truth, "forward_head")
    print(f"forward_head: truth {score.truth} detected {score.detected} "
          f"P {score.precision:.2f} R {score.recall:.2f}")
    assert score.truth >= 5 and score.precision >= 0.95 and score.recall >= 0.95
