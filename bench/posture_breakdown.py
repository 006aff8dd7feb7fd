"""Benchmark: where per-second posture goes wrong on a simulated recording with real wear.

Runs a seeded recording (default: 2 days with every real-wear option on) through a live pipeline
(or ``--offline``: as a replay holds frames back) and scores each second once its true posture has
settled (2 s), as ``bench/short_bouts.py`` does. The errors are then broken down by

- the true posture (and what it was called),
- which sensors were on the body (from the simulator's non-wear spans) and how each was worn
  (as first put on, or put back on as planned / upside down / inside out),
- the time since the last sensor was put back on.

The sensors' simulated clocks (offset, 35 ppm-scale drift) are put onto the truth's timeline as
the live host stamps or a replay's alignment would (``--raw-clocks``: left as recorded, which puts
a sensor seconds off the truth by the second day and fails short bouts for that reason alone).
``--save F.npz`` keeps the per-second arrays so a breakdown can be looked at again. No assertions.

    .venv/bin/python bench/posture_breakdown.py [--days 2] [--seed 5] [--offline] [--save out.npz]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import replace

import numpy as np

from posturewatch.analytics.pipeline import PipelineSettings
from posturewatch.analytics.records import Posture
from posturewatch.analytics.scoring import per_second_majority, score_settled
from posturewatch.simulators.config import Wear, WearerConfig
from posturewatch.simulators.wearer import compute_truth, prepare

SINCE_BINS = (0, 60, 600, 3600, np.inf)  # seconds since the last put-back


Masks = dict[str, np.ndarray]


def wear_state(config: WearerConfig, t: np.ndarray) -> tuple[Masks, Masks, np.ndarray]:
    """Per second: per sensor whether it is on the body and how it is worn ("first", "same",
    "upside_down", "inside_out"), and the seconds since any sensor was last put back on."""
    plan, specs = prepare(config)
    worn, how = {}, {}
    back = np.full(len(t), -np.inf)
    for loc, spec in specs.items():
        on = np.ones(len(t), bool)
        for nw in plan.nonwear:
            if nw["location"] in ("all", loc):
                on &= ~((t >= nw["start"]) & (t < nw["end"]))
        worn[loc] = on
        state = np.full(len(t), "first", dtype=object)
        for period in spec.wear_periods:
            later = t >= period["from"]
            state[later] = period["flip"] or "same"
            back = np.where(t >= period["put_back"], np.maximum(back, period["put_back"]), back)
        how[loc] = state
    return worn, how, t - back


def breakdown(t: np.ndarray, pred: np.ndarray, true: np.ndarray, scored: np.ndarray,
              worn: dict[str, np.ndarray], how: dict[str, np.ndarray], since: np.ndarray) -> None:
    """Print accuracy and the wrong seconds by truth, worn set, mounting state and time since re-wear."""
    ok = pred == true
    def line(name: str, mask: np.ndarray) -> None:
        m = mask & scored
        if m.any():
            wrong = int((~ok & m).sum())
            print(f"  {name:<38} {int(m.sum()):>7} s  acc {ok[m].mean():.4f}  wrong {wrong:>6}")
    print("by truth posture:")
    for code in np.unique(true[scored]):
        line(Posture(int(code)).label, true == code)
    print("by sensors on the body:")
    sets = np.array(["+".join(loc for loc in worn if worn[loc][i]) or "none" for i in range(len(t))])
    for name in np.unique(sets):
        line(name, sets == name)
    print("by how each sensor is worn:")
    for loc, state in how.items():
        for name in np.unique(state):
            line(f"{loc} {name}", (state == name) & worn[loc])
    print("by time since the last put-back:")
    for lo, hi in zip(SINCE_BINS[:-1], SINCE_BINS[1:], strict=True):
        line(f"{lo:g}–{hi:g} s", (since >= lo) & (since < hi))
    line("never put back", ~np.isfinite(since))
    bad = scored & ~ok
    wrong = Counter((Posture(int(a)).label, Posture(int(b)).label, s)
                    for a, b, s in zip(true[bad], pred[bad], sets[bad], strict=True))
    print("most wrong (truth, predicted, worn set):")
    for key, count in wrong.most_common(12):
        print(f"  {key}: {count}")


def main() -> int:
    from short_bouts import run, true_clocks  # the same live run as the short-bout bench

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--rate", type=float, default=25.0)
    ap.add_argument("--offline", action="store_true", help="hold frames back as a replay does")
    ap.add_argument("--save", help="keep the per-second arrays in this .npz")
    ap.add_argument("--raw-clocks", action="store_true",
                    help="leave the sensors' simulated clock offset and drift uncorrected")
    args = ap.parse_args()
    config = WearerConfig(days=args.days, hours=args.hours, seed=args.seed, rate=args.rate,
                          wear=Wear.everything() if args.days else replace(Wear.everything(), nights=False))
    settings = PipelineSettings().offline() if args.offline else PipelineSettings()
    t0 = time.perf_counter()
    out, pipe = run(config, settings, clocks=None if args.raw_clocks else true_clocks(config))
    took = time.perf_counter() - t0
    truth = compute_truth(config, prepare(config)[0])
    sec, pred = per_second_majority(out.t, out.posture)
    s = score_settled(sec, pred, truth.t_1hz, truth.posture_1hz, skip=(Posture.NOT_WORN,))
    print(f"seed {args.seed}, {config.hours:g} h, {'offline' if args.offline else 'live'}, {took:.0f} s: "
          f"overall {s.overall:.4f} over {s.seconds} s; short bouts {s.short:.4f} over {s.short_seconds} s")
    tt = np.round(truth.t_1hz).astype(np.int64)
    tp = np.round(sec).astype(np.int64)
    have = np.isin(tt, tp)
    got = np.asarray(pred)[np.searchsorted(tp, tt).clip(0, len(tp) - 1)]
    true = truth.posture_1hz
    starts = np.flatnonzero(np.concatenate(([True], true[1:] != true[:-1])))
    lengths = np.diff(np.append(starts, len(true)))
    since_change = np.arange(len(true)) - np.repeat(starts, lengths)
    scored = have & (since_change >= 2) & (true != Posture.NOT_WORN)
    worn, how, since = wear_state(config, truth.t_1hz)
    breakdown(truth.t_1hz, got, true, scored, worn, how, since)
    print("mountings:", [(round((t - config.start) / 3600, 2), note) for t, note in pipe.calibration_log])
    print("counters:", dict(pipe.counters))
    if args.save:
        np.savez_compressed(args.save, t=truth.t_1hz, pred=got, true=true, scored=scored, since=since,
                            **{f"worn_{k}": v for k, v in worn.items()},
                            **{f"how_{k}": v.astype(str) for k, v in how.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
