"""A simulated recording with lying in every position (supine, both sides, semi-reclined, prone)
between desk sitting and standing with bends, through the pipeline and scored against truth.

Lying must be lying whatever the roll, side lying must report its sagittal angles as undefined
(NaN and flagged), and no episode may arise while lying, while the upright episodes around it
are still found (scored per kind with analytics.scoring).
"""

import json

import numpy as np
import pytest
from recording_chunks import live_chunks

from posturewatch.analytics.pipeline import Pipeline
from posturewatch.analytics.records import EPISODE_KINDS, Posture
from posturewatch.analytics.scoring import score_episodes, score_posture
from posturewatch.ingest.angles import undefined_mask
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.schedule import plan_script
from posturewatch.simulators.wearer import simulate

pytestmark = pytest.mark.slow  # an hour of 3 sensors simulated and analysed (~12 s)

SEED = 27  # a day whose truth has bends, a posterior tilt and a forward head
HOURS = 1.0
CHUNK_S = 10.0


def _script(ch) -> None:
    ch.walking(150.0)  # walking and standing: the mountings are learnt from these
    ch.standing(180.0)
    ch.sit_down()
    ch.desk_sitting(720.0)
    ch.stand_up()
    ch.walking(90.0)
    ch.lying_positions([("supine", 120.0), ("left", 300.0), ("right", 300.0), ("supine", 60.0),
                        ("semi_reclined", 300.0)])
    ch.standing(120.0)
    ch.lying_prone(300.0)
    ch.standing(150.0)
    ch.walking(120.0)


@pytest.fixture(scope="module")
def lying_day():
    config = WearerConfig(hours=HOURS, seed=SEED)
    day = simulate(config, plan=plan_script(SEED, config.start, HOURS, _script))
    pipeline = Pipeline()
    outs = [pipeline.push(chunk, until=edge)
            for edge, chunk in live_chunks(day.blocks, config.start, config.end, CHUNK_S)]
    outs.append(pipeline.close())
    out = {
        "t": np.concatenate([o.t for o in outs]),
        "posture": np.concatenate([o.posture for o in outs]),
        "angles": {k: np.concatenate([o.angles[k] for o in outs]) for k in outs[0].angles},
        "quality": np.concatenate([o.angle_quality for o in outs]),
        "episodes": [e.episode for o in outs for e in o.events if e.type == "end"],
    }
    return day, out


def _positions(day) -> list[tuple[float, float, str]]:
    """(start, end, position) of each lying position, from the truth events and labels."""
    truth = day.truth
    lying = truth.posture_10hz == Posture.LYING
    changes = [(e["t"], e["position"]) for e in day.meta["events"]
               if e["kind"] in ("lie_down", "lying_position")]
    out = []
    for (t0, pos), (t1, _) in zip(changes, [*changes[1:], (np.inf, "")], strict=True):
        sel = lying & (truth.t_10hz >= t0) & (truth.t_10hz < t1)
        if sel.sum() > 20 * 10:  # not the lie-down move itself
            out.append((float(truth.t_10hz[sel][0]), float(truth.t_10hz[sel][-1]), pos))
    assert lying.any()
    return out


def _inner(t, a, b, margin=5.0):
    return (t >= a + margin) & (t < b - margin)


def test_lying_recognised_in_every_position(lying_day):
    day, out = lying_day
    labels = [Posture(int(p)).label for p in out["posture"]]
    truth = day.truth
    whole = score_posture(out["t"], labels, truth.t_1hz, list(truth.labels(truth.posture_1hz)))
    print(f"posture agreement {whole.agreement:.4f} over {whole.seconds} s: {whole.confusion}")
    assert whole.agreement >= 0.97
    positions = _positions(day)
    assert {p for _, _, p in positions} == {"supine", "left", "right", "semi_reclined", "prone"}
    for a, b, position in positions:
        sel = _inner(out["t"], a, b, margin=15.0)  # the posture decision trails by a bout
        share = float(np.mean(out["posture"][sel] == Posture.LYING))
        print(f"{position}: {sel.sum() / 10:.0f} s, lying {share:.4f}")
        assert share >= 0.99, position


def test_side_lying_angles_undefined_others_defined(lying_day):
    day, out = lying_day
    trunk = out["angles"]["trunk_inclination"]
    flagged = undefined_mask(out["quality"], "trunk_inclination")
    slip = day.meta["slip"]  # a thorax slip is only re-calibrated at the next walk
    slipped_from = slip["time"] if slip and slip["location"] == "thorax" else np.inf
    for a, b, position in _positions(day):
        sel = _inner(out["t"], a, b) & (np.isfinite(trunk) | flagged)  # frames with data
        undefined = float(np.mean(flagged[sel]))
        print(f"{position}: trunk undefined in {undefined:.3f} of frames")
        assert np.isnan(trunk[sel][flagged[sel]]).all()
        if position in ("left", "right"):
            assert undefined >= 0.95
        else:
            assert undefined == 0.0
            if b > slipped_from:
                continue
            want = np.interp(out["t"][sel], day.truth.t_10hz, day.truth.angles_10hz["trunk_inclination"])
            err = np.abs(trunk[sel] - want)
            print(f"{position}: trunk median error {np.median(err):.1f}°")
            assert np.median(err) <= 10.0  # learnt mountings, no calibration pose
    for name, values in out["angles"].items():
        v = values[np.isfinite(values)]
        assert ((v > -180) & (v <= 180)).all(), name


def test_no_episode_while_lying_and_upright_ones_still_found(lying_day):
    day, out = lying_day
    lying = [(a, b) for a, b, _ in _positions(day)]
    found = [(e.kind, e.start, e.end) for e in out["episodes"]]
    during = [f for f in found if any(f[1] < b and a < f[2] for a, b in lying)]
    assert during == [], during
    truth = [(e.kind, e.start, e.end) for e in day.truth.episodes]
    assert not [e for e in truth if any(e[1] < b and a < e[2] for a, b in lying)]  # the rules agree
    scored = 0
    for kind in EPISODE_KINDS:
        s = score_episodes(found, truth, kind)
        print(f"{kind}: truth {s.truth} detected {s.detected} P {s.precision:.3f} R {s.recall:.3f}")
        if s.detected:
            assert s.precision == 1.0, kind
        if s.truth:
            scored += 1
            assert s.recall >= 0.9, kind
    assert scored >= 2  # bends and at least one kind of slump are in the day
    print(json.dumps(day.meta["truth_episode_counts"]))
