"""Steps and sit-to-stand transitions of a simulated office morning, scored against its truth.

The simulator's heel strikes (both legs) and sit-to-stand / stand-to-sit movements are the
ground truth; the pipeline is driven block by block through the Monitor, as live. Steps must be
within 3 % of the truth, transitions found with precision and recall ≥ 0.95 and their start
within a second (median), whatever the block size.
"""

from __future__ import annotations

import numpy as np
import pytest

from posturewatch.alerts.monitor import Monitor
from posturewatch.analytics.scoring import score_episodes
from posturewatch.analytics.transitions import SIT_TO_STAND, STAND_TO_SIT
from posturewatch.simulators import wear_truth
from posturewatch.simulators.config import Wear, WearerConfig
from posturewatch.simulators.wearer import iter_blocks, simulate

pytestmark = pytest.mark.slow

CONFIG = WearerConfig(hours=3, seed=21, rate=25, wear=Wear(short_bouts=True))


def _run(config: WearerConfig, chunk_s: float, only: tuple[str, ...] | None = None):
    monitor = Monitor()
    steps, moves = [], []

    def take(step) -> None:
        steps.append(step.frames.steps)
        moves.extend(step.frames.transitions)

    for blocks in iter_blocks(config, chunk_s=chunk_s):
        take(monitor.push([b for loc, b in blocks.items() if len(b) and (only is None or loc in only)]))
    take(monitor.close())
    return np.concatenate(steps), moves


@pytest.fixture(scope="module")
def truth():
    day = simulate(CONFIG)
    return day.truth.steps_t, wear_truth.transitions(day.plan, CONFIG.sensor_locations)


@pytest.fixture(scope="module")
def detected():
    return _run(CONFIG, chunk_s=10.0)


def test_steps_within_three_percent(truth, detected):
    steps_truth, _ = truth
    steps, _ = detected
    error = (len(steps) - len(steps_truth)) / len(steps_truth)
    print(f"steps {len(steps)} truth {len(steps_truth)} error {error:+.4f}")
    assert len(steps_truth) > 500
    assert abs(error) <= 0.03
    assert np.all(np.diff(steps) > 0)  # each step once, in time order


@pytest.mark.parametrize("kind", [SIT_TO_STAND, STAND_TO_SIT])
def test_transitions_against_truth(truth, detected, kind):
    _, moves_truth = truth
    _, moves = detected
    found = [(m.kind, m.start, m.end) for m in moves]
    s = score_episodes(found, moves_truth, kind)
    durations = [m.duration_s for m in moves if m.kind == kind]
    print(f"{kind}: truth {s.truth} found {s.detected} P {s.precision:.3f} R {s.recall:.3f} "
          f"median start error {s.median_start_error_s:.2f} s, median duration {np.median(durations):.2f} s")
    assert s.truth >= 5
    assert s.precision >= 0.95 and s.recall >= 0.95
    assert s.median_start_error_s <= 1.0
    assert 0.8 <= np.median(durations) <= 3.5  # truth: 1.5–3 s movements


def test_block_size_does_not_change_the_result(detected):
    steps, moves = detected
    steps_1s, moves_1s = _run(CONFIG, chunk_s=1.0)
    assert len(steps_1s) == len(steps)
    assert np.allclose(steps_1s, steps)
    assert [(m.kind, round(m.start, 1)) for m in moves_1s] == [(m.kind, round(m.start, 1)) for m in moves]


def test_pelvis_alone_counts_steps_and_transitions(truth):
    steps_truth, moves_truth = truth
    steps, moves = _run(CONFIG, chunk_s=10.0, only=("pelvis",))
    error = (len(steps) - len(steps_truth)) / len(steps_truth)
    found = [(m.kind, m.start, m.end) for m in moves]
    s = score_episodes(found, moves_truth, SIT_TO_STAND)
    print(f"pelvis only: steps error {error:+.4f}; sit-to-stand P {s.precision:.3f} R {s.recall:.3f}")
    assert abs(error) <= 0.03
    assert s.precision >= 0.9 and s.recall >= 0.9
