"""Benchmark: replay a simulated 24 h, 3-sensor, 100 Hz day end to end, against raw vqf fusion.

Prints end-to-end samples/s (CSV read → clock alignment → mounting learning → streaming pipeline
→ result files), the samples/s of the `vqf` library's own offline batch fusion on the same
samples in the same run, their ratio, a per-stage breakdown and peak RSS. No assertions: the
machines are shared and noisy, figures are for reading.

    .venv/bin/python bench/replay_day.py [--hours 24] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from vqf import offlineVQF

from posturewatch.ingest.recording import read_recording
from posturewatch.runtime.config import Config
from posturewatch.runtime.replay import run_replay, write_results
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.recording import record


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--workdir", type=Path, help="keep the generated day here (default: a temp dir)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pw-bench-"))
    csv_path = work / "sensors.csv"
    if not csv_path.exists():
        t = time.perf_counter()
        record(WearerConfig(hours=args.hours, seed=args.seed), work)
        print(f"simulated {args.hours:g} h in {time.perf_counter() - t:.1f} s → {csv_path} "
              f"({csv_path.stat().st_size / 1e9:.2f} GB)")
    base_rss = peak_rss_mb()

    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    rec = read_recording(csv_path)
    stages["read CSV"] = time.perf_counter() - t0
    n_samples = sum(len(b) for b in rec.blocks.values())

    marks = {}

    def progress(fraction: float, detail: str = "") -> None:
        if detail and detail not in marks:
            marks[detail] = time.perf_counter()

    t1 = time.perf_counter()
    result = run_replay(rec.blocks, Config(), progress=progress, read=rec.report)
    t2 = time.perf_counter()
    stages["align clocks"] = marks.get("clocks aligned", t1) - t1
    stages["learn mountings"] = marks.get("mountings learnt", t1) - marks.get("clocks aligned", t1)
    stages["stream pipeline"] = t2 - marks.get("mountings learnt", t1)
    write_results(result, work / "out")
    stages["write results"] = time.perf_counter() - t2
    end_to_end = time.perf_counter() - t0

    # Reference: vqf's own offline batch fusion of the same samples (gyro + acc, 6D).
    t3 = time.perf_counter()
    for block in rec.blocks.values():
        rate = 1.0 / float(np.median(np.diff(block.t[:10000])))
        gyr = np.ascontiguousarray(block.gyr, dtype=np.float64)
        acc = np.ascontiguousarray(block.acc, dtype=np.float64)
        offlineVQF(gyr, acc, None, 1.0 / rate)
    vqf_s = time.perf_counter() - t3

    ours = n_samples / end_to_end
    ref = n_samples / vqf_s
    print(f"samples: {n_samples:,} ({len(rec.blocks)} sensors, {args.hours:g} h)")
    print(f"end-to-end: {end_to_end:7.1f} s  {ours:12,.0f} samples/s")
    print(f"vqf batch : {vqf_s:7.1f} s  {ref:12,.0f} samples/s  (offlineVQF on the same samples)")
    print(f"ratio end-to-end / vqf: {ours / ref:.2f}")
    for name, secs in stages.items():
        print(f"  {name:<16} {secs:6.1f} s  {secs / end_to_end * 100:4.0f} %")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (after simulation: {base_rss:.0f} MB)")
    print(f"episodes: {sum(e.type == 'end' for e in result.episodes)}, alerts: {len(result.alerts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
