"""Two simulated days of real wear (nights, a nap, sensors taken off, breathing, sensors put back
on flipped) through the monitor — pipeline and alert policy — scored against the plan's truth.

Figures: non-wear recall ≥ 0.95 of the minutes every sensor was off, ≤ 0.5 % of worn minutes
called not worn, no alert and no episode while the sensors are off or the wearer lies; in-bed
onset and offset median error ≤ 5 min; no daytime nap or lie-down is in bed. Frames are held back
(replay mode) so that both decisions are backdated onto them.
"""

from __future__ import annotations

import numpy as np
import pytest

from posturewatch.alerts.monitor import Monitor
from posturewatch.analytics.pipeline import PipelineSettings
from posturewatch.analytics.records import Posture
from posturewatch.analytics.scoring import score_episodes, score_posture
from posturewatch.simulators.config import Wear, WearerConfig
from posturewatch.simulators.wearer import iter_blocks, prepare

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # two days of three sensors at 25 Hz: minutes

WEAR = Wear(nights=True, naps=True, nonwear=True, breathing=True, reattach_flips=True)
REPLAY = PipelineSettings().offline()


@pytest.fixture(scope="module")
def run():
    config = WearerConfig(days=2, seed=3, rate=25.0, wear=WEAR)
    plan, _ = prepare(config)
    monitor = Monitor(REPLAY)
    t, posture, in_bed, events, alerts = [], [], [], [], []
    for blocks in iter_blocks(config, chunk_s=10.0):
        steps = [monitor.push(blocks.values())]
        for step in steps:
            t.append(step.frames.t)
            posture.append(step.frames.posture)
            in_bed.append(step.frames.in_bed)
            events += step.events
            alerts += step.alerts
    step = monitor.close()
    t.append(step.frames.t)
    posture.append(step.frames.posture)
    in_bed.append(step.frames.in_bed)
    events += step.events
    alerts += step.alerts
    return plan, np.concatenate(t), np.concatenate(posture), np.concatenate(in_bed), events, alerts


def _inside(t: np.ndarray, spans) -> np.ndarray:
    out = np.zeros(len(t), bool)
    for a, b in spans:
        out |= (t >= a) & (t < b)
    return out


def _all_off(plan) -> list[tuple[float, float]]:
    return [(nw["start"], nw["end"]) for nw in plan.nonwear if nw["location"] == "all"]


def test_not_worn_found_and_worn_not_called_off(run):
    plan, t, posture, *_ = run
    sec = np.unique(np.floor(t))
    truth = np.where(_inside(sec, _all_off(plan)), "not_worn", "worn")
    pred = np.where(posture == Posture.NOT_WORN, "not_worn", "worn")
    first = np.searchsorted(t, sec)  # a frame per second
    score = score_posture(sec, pred[first].tolist(), sec, truth.tolist())
    recall, false = score.share("not_worn", "not_worn"), score.share("worn", "not_worn")
    print(f"not worn: {np.sum(truth == 'not_worn') / 60:.0f} min, recall {recall:.4f}, "
          f"worn called off {false:.4%}")
    assert np.sum(truth == "not_worn") > 60 * 60  # the day has sensors off for over an hour
    assert recall >= 0.95
    assert false <= 0.005


def test_no_alert_and_no_episode_while_off_or_lying(run):
    plan, t, posture, _, events, alerts = run
    off = _all_off(plan)
    lying = _truth_runs(plan, t, Posture.LYING)
    at_alert = np.array([a.ts for a in alerts])
    print(f"{len(alerts)} alerts, {len(events)} episode events")
    assert not _inside(at_alert, off).any()
    for e in events:
        ep = e.episode
        end = ep.end if ep.end is not None else ep.confirmed
        for a, b in off + lying:  # an episode may touch the edges (backdated start, 60 s end)
            assert not (ep.start > a + 5 and end < b - 5), (ep, a, b)
        assert not _inside(np.array([ep.confirmed]), off).any(), ep


def _truth_runs(plan, t: np.ndarray, code: Posture) -> list[tuple[float, float]]:
    sec = np.arange(np.floor(t[0]), np.ceil(t[-1]))
    is_code = plan.posture_codes(sec) == int(code)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], is_code.astype(np.int8), [0]))))
    return [(float(sec[a]), float(sec[min(b, len(sec) - 1)])) for a, b in zip(edges[::2], edges[1::2],
                                                                             strict=True)]


def _spans(t: np.ndarray, flag: np.ndarray) -> list[tuple[float, float]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flag.astype(np.int8), [0]))))
    return [(float(t[a]), float(t[b - 1]) + 0.1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def test_in_bed_onset_and_offset(run):
    plan, t, _, in_bed, *_ = run
    found = _spans(t, in_bed)
    nights = []  # a night's detected in-bed spans (awakenings split it): first start, last end
    for a, b in plan.in_bed:
        inside = [(s, e) for s, e in found if s < b and a < e]
        if inside:
            nights.append(("in_bed", inside[0][0], inside[-1][1]))
    truth = [("in_bed", a, b) for a, b in plan.in_bed]
    score = score_episodes(nights, truth, "in_bed")
    offsets = [min(abs(e - b) for _, _, e in nights if e > a) for a, b in plan.in_bed]
    print(f"nights {score.truth}, found {score.detected}, onset error {score.median_start_error_s:.0f} s, "
          f"offset error {np.median(offsets):.0f} s")
    assert score.recall == 1.0 and score.precision == 1.0
    assert score.median_start_error_s <= 300.0
    assert np.median(offsets) <= 300.0


def test_naps_and_daytime_lying_are_not_in_bed(run):
    plan, t, posture, in_bed, *_ = run
    margin = [(a - 300.0, b + 300.0) for a, b in plan.in_bed]
    outside = in_bed & ~_inside(t, margin)
    naps = [e["t"] for e in plan.events if e["kind"] == "nap"]
    day_lying = (posture == Posture.LYING) & ~_inside(t, margin)
    print(f"{len(naps)} naps, daytime lying {day_lying.sum() / 600:.0f} min, in bed outside nights "
          f"{outside.sum() / 600:.1f} min")
    assert naps and day_lying.sum() > 20 * 600  # there is daytime lying to tell apart
    assert outside.sum() == 0
