"""Sensors that slip while the wearer sits or stands still, on the pelvis and on the thorax.

A scripted morning (walk, stand, desk sitting with its slumps and fidgets, quiet standing, walk,
sitting) with four slips of 9–10° placed by the test through the simulator's own slip model: the
pelvis and the thorax each slip once while seated and once while standing. Each must be noticed
where it happened (the time in the calibration log within 2 s of the truth), no other step may
be reported, and once corrected (within a bounded time) the segment's angle must be within 3° of
the truth again, where before the correction it was off by about the slip. The live status says
how often each sensor slipped and when it was last corrected.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from recording_chunks import live_chunks

from posturewatch.analytics.pipeline import Pipeline, PipelineOutput
from posturewatch.runtime.session import mounting_state
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.scripted import STILL_SLIPS_HOURS, still_slips
from posturewatch.simulators.wearer import simulate

pytestmark = pytest.mark.slow  # 25 min of three sensors (~10 s)

SEED, CHUNK_S = 4, 10.0
ANGLE = {"pelvis": "pelvic_tilt", "thorax": "trunk_inclination"}
MAX_CORRECTION_S = 120.0  # the step needs a minute after it to be sure, posture 15 s more
ERROR_DEG = 3.0


@pytest.fixture(scope="module")
def slipped():
    config = WearerConfig(hours=STILL_SLIPS_HOURS, seed=SEED, rate=25.0).with_realism(slip=False)
    plan, specs, slips = still_slips(config)
    day = simulate(config, plan=plan, specs=specs)
    pipeline = Pipeline()
    outs = [pipeline.push(chunk, until=edge)
            for edge, chunk in live_chunks(day.blocks, config.start, config.end, CHUNK_S)]
    outs.append(pipeline.close())
    out = outs[0]
    for o in outs[1:]:
        out = PipelineOutput.joined(out, o)
    return day, out, pipeline, slips


def _error(day, out, name: str) -> np.ndarray:
    truth = np.interp(out.t, day.truth.t_10hz, day.truth.angles_10hz[name])
    return out.angles[name] - truth


def test_each_slip_is_noticed_where_it_happened_and_nothing_else(slipped):
    _, _, pipeline, slips = slipped
    found = [(ts, n.split(":")[0]) for ts, n in pipeline.calibration_log if "a step while" in n]
    for ts, n in pipeline.calibration_log:
        print(f"{ts:.1f} {n}")
    assert len(found) == len(slips)
    for (loc, at, _), (ts, where) in zip(slips, sorted(found), strict=True):
        assert where == loc and abs(ts - at) <= 2.0, (loc, at, ts, where)
    assert pipeline.counters["pelvis_slips"] == 2 and pipeline.counters["thorax_slips"] == 2


def _per_second(t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sec = np.floor(t).astype(np.int64)
    uniq, first = np.unique(sec, return_index=True)
    with np.errstate(invalid="ignore"):
        return uniq, np.array([np.nanmedian(v) if np.isfinite(v).any() else np.nan
                               for v in np.split(x, first[1:])])


def test_angles_are_right_again_within_a_bounded_time(slipped):
    day, out, _, slips = slipped
    ends = [at for _, at, _ in slips[1:]] + [day.config.end]
    t10, p10 = day.truth.t_10hz, day.truth.posture_10hz
    moves = t10[1:][p10[1:] != p10[:-1]]  # every change of posture
    for (loc, at, deg), end in zip(slips, ends, strict=True):
        sec, err = _per_second(out.t, _error(day, out, ANGLE[loc]))
        end = min([end] + [a for a in moves if a > at]) - 2.0  # a posture change closes the window
        begin = max([at - 90.0] + [a + 5.0 for a in moves if a < at])
        baseline = np.nanmedian(err[(sec > begin) & (sec < at - 1)])  # the calibration's own error
        window = (sec > at + 1) & (sec < end)
        with np.errstate(invalid="ignore"):  # seconds lost to a dropout are NaN: missing, not off
            off = window & (np.abs(err - baseline) >= ERROR_DEG)
        fixed_at = float(sec[off].max()) + 1.0 if off.any() else at
        after = window & (sec >= fixed_at)
        just_after = window & (sec < at + 30)
        residual = np.nanmedian(err[after]) - baseline
        print(f"{loc} {deg:+.0f}° at {at - day.config.start:.0f} s: error before {baseline:+.2f}°, after "
              f"{np.nanmedian(err[just_after]):+.2f}°, corrected {fixed_at - at:.0f} s after the slip, then "
              f"{np.nanmedian(err[after]):+.2f}° (slip left: {residual:+.2f}°, worst second "
              f"{np.nanmax(np.abs(err[after])):.2f}°) over {after.sum()} s")
        assert abs(np.nanmedian(err[just_after]) - baseline) > 0.6 * abs(deg)  # the slip showed
        assert fixed_at - at <= MAX_CORRECTION_S
        assert after.sum() >= 30
        assert abs(np.nanmedian(err[after])) < ERROR_DEG and abs(residual) < ERROR_DEG / 2


def test_the_status_says_which_sensors_slipped_and_when(slipped):
    _, _, pipeline, slips = slipped
    state = mounting_state(pipeline)
    for loc in ("pelvis", "thorax"):
        last = max(at for where, at, _ in slips if where == loc)
        assert state[loc]["slips"] == 2 and state[loc]["mounting"] == "known"
        assert "a step while standing" in state[loc]["mounting_note"]
        changed = datetime.fromisoformat(state[loc]["mounting_changed"]).timestamp()
        assert abs(changed - last) <= 2.0
    assert state["thigh"]["slips"] == 0
