"""Benchmark: posture per second on a simulated recording with short bouts (and optionally
sensors re-worn flipped), scored against truth once each true posture has settled (2 s).

Prints overall and short-bout (3–10 s) agreement and the errors by (truth, predicted) seconds.
``--script short`` / ``--script rewear`` replay the scripted days of ``simulators.scripted``
(packed with short bouts; the second puts the sensors back on, some the other way round) instead
of a seeded day. No assertions.

    .venv/bin/python bench/short_bouts.py [--hours 3] [--seed 21] [--flips] [--days N]
    .venv/bin/python bench/short_bouts.py --script rewear --seed 3 [--rounds 4]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from posturewatch.analytics.pipeline import Pipeline, PipelineOutput, PipelineSettings
from posturewatch.analytics.records import Posture
from posturewatch.analytics.scoring import per_second_majority, score_settled
from posturewatch.ingest.align import ClockModel
from posturewatch.simulators.config import Wear, WearerConfig
from posturewatch.simulators.scripted import short_bouts_plan
from posturewatch.simulators.wearer import compute_truth, iter_blocks, prepare, simulate


def true_clocks(config: WearerConfig) -> dict[str, ClockModel]:
    """Each sensor's clock as the simulator made it (offset, drift), onto the truth's timeline.
    Live, BLE samples are stamped on arrival by the host; a replay aligns the clocks from content;
    without either a 35 ppm drift puts a sensor seconds off the truth by the second day."""
    return {loc: ClockModel(spec.clock_offset_s, spec.clock_drift_ppm * 1e-6, config.start)
            for loc, spec in prepare(config)[1].items()}


def run(config: WearerConfig, settings: PipelineSettings | None = None, chunk_s: float = 10.0,
        clocks: dict[str, ClockModel] | None = None) -> tuple[PipelineOutput, Pipeline]:
    """The recording through a live pipeline (no calibration: mountings learnt as it goes)."""
    pipe = Pipeline(settings, clocks=clocks)
    outs = []
    for blocks in iter_blocks(config, chunk_s):
        present = [b for b in blocks.values() if len(b)]
        # on the common clock the sensors' chunks end at different times: frames are final only
        # up to the one that ends first (as a live source says with its ``until``)
        ends = [float((clocks[b.location].apply(b.t[-1:]) if clocks else b.t[-1:])[0]) for b in present]
        outs.append(pipe.push(present, until=min(ends) - 0.5 if ends else None))
    outs.append(pipe.close())
    out = outs[0]
    for o in outs[1:]:
        out = PipelineOutput.joined(out, o)
    return out, pipe


def run_scripted(config: WearerConfig, rounds: int, rewear: bool) -> tuple[PipelineOutput, Pipeline, object]:
    """A scripted day through a live pipeline, in 10 s chunks; also returns the day's truth."""
    day = simulate(config, plan=short_bouts_plan(config.seed, config.start, config.hours, rounds, rewear))
    pipe = Pipeline()
    out = PipelineOutput.empty()
    edge, cursor = config.start + 10.0, dict.fromkeys(day.blocks, 0)
    while edge < config.end + 10.0:
        chunk = []
        for loc, block in day.blocks.items():
            j = int(np.searchsorted(block.t, edge))
            chunk.append(block.slice(cursor[loc], j))
            cursor[loc] = j
        out = PipelineOutput.joined(out, pipe.push([c for c in chunk if len(c)], until=edge))
        edge += 10.0
    return PipelineOutput.joined(out, pipe.close()), pipe, day.truth


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--days", type=int, default=0)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--rate", type=float, default=25.0)
    ap.add_argument("--flips", action="store_true", help="sensors taken off and put back flipped")
    ap.add_argument("--script", choices=("day", "short", "rewear"), default="day")
    ap.add_argument("--rounds", type=int, default=6, help="rounds of short bouts in a scripted day")
    args = ap.parse_args()
    flips = args.flips or args.script == "rewear"
    wear = Wear(short_bouts=True, nonwear=flips, reattach_flips=flips)
    t0 = time.perf_counter()
    if args.script == "day":
        config = WearerConfig(hours=args.hours, days=args.days, seed=args.seed, rate=args.rate, wear=wear)
        out, pipe = run(config)
        truth = compute_truth(config, prepare(config)[0])
    else:
        minutes = args.rounds * 4.2 * (2.5 if flips else 1) + (20 if flips else 5)
        config = WearerConfig(hours=minutes / 60, seed=args.seed, rate=args.rate, wear=wear)
        out, pipe, truth = run_scripted(config, args.rounds, flips)
    took = time.perf_counter() - t0
    sec, pred = per_second_majority(out.t, out.posture)
    s = score_settled(sec, pred, truth.t_1hz, truth.posture_1hz, skip=(Posture.NOT_WORN,))
    print(f"{config.hours:g} h, {took:.1f} s: overall {s.overall:.4f} over {s.seconds} s; short bouts "
          f"{s.short:.4f} over {s.short_seconds} s of {s.short_bouts} bouts")
    tt = np.round(truth.t_1hz).astype(np.int64)
    got = dict(zip(sec.tolist(), pred.tolist(), strict=True))
    pairs = zip(truth.posture_1hz.tolist(), tt.tolist(), strict=True)
    wrong = Counter((Posture(a).label, Posture(got[b]).label) for a, b in pairs
                    if b in got and got[b] != a and a != Posture.NOT_WORN)
    print("errors (truth, predicted):", dict(wrong.most_common(8)))
    print("calibration log:", pipe.calibration_log[:12])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
