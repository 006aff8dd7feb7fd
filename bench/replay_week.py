"""Benchmark: stream a simulated multi-day recording (default 7 days, 3 sensors, 100 Hz) through
`replay` in a subprocess, against raw offline vqf fusion of the same samples.

The recording is written to disk as the simulator generates it (``simulators.recording.record``
streams each chunk to the file; the week is never in memory), as the combined CSV or, with
``--format parquet``, as one file of the raw archive (the same samples). The replay runs in a child process
so its peak RSS is its own; the child notes the peak after the first pass and as the second pass
passes each of days 1, 3 and 7 (the simulated data rate is uniform, so the share of samples
streamed tells the day). Printed: samples/s end to end (both passes, results written), the time
of each pass, samples/s of `vqf`'s offlineVQF on a one-day slice of the same samples in this
run, their ratio, and the peak RSS marks. Both wall-clock and CPU time (user + system, all
threads) are given: on a shared machine the CPU ratio is the steadier one. No assertions: the
machines are shared and noisy.

    .venv/bin/python bench/replay_week.py [--days 7] [--rate 100] [--format csv|parquet] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DAY_MARKS = (1, 3, 7)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def open_stream(path: Path):
    from posturewatch.ingest.archive_reader import ArchiveStream, is_archive
    from posturewatch.ingest.recording_stream import RecordingStream

    return ArchiveStream(path) if is_archive(path) else RecordingStream(path)


def child(path: Path, out: Path, days: float) -> int:
    """The replay itself, reporting its own memory as it goes (one JSON line at the end)."""
    from posturewatch.runtime.config import Config
    from posturewatch.runtime.replay import replay_file

    t0, c0 = time.perf_counter(), cpu_s()
    marks: dict[str, dict[str, float]] = {}
    wanted = [d for d in DAY_MARKS if d < days] + [days]

    def progress(fraction: float, detail: str = "") -> None:
        now = time.perf_counter() - t0
        if detail == "mountings learnt" and "first pass" not in marks:
            marks["first pass"] = {"s": now, "cpu_s": cpu_s() - c0, "rss_mb": peak_rss_mb()}
            print(f"  first pass done: {json.dumps(marks['first pass'])}", file=sys.stderr, flush=True)
        if fraction > 0.4:
            streamed = (fraction - 0.4) / 0.6 * days
            for d in wanted:
                key = f"day {d:g}"
                if streamed >= d - 1e-6 and key not in marks:
                    marks[key] = {"s": now, "cpu_s": cpu_s() - c0, "rss_mb": peak_rss_mb()}
                    print(f"  {key} streamed: {json.dumps(marks[key])}", file=sys.stderr, flush=True)

    run = replay_file(path, out, Config(), progress=progress)
    total, cpu = time.perf_counter() - t0, cpu_s() - c0
    print(json.dumps({"samples": int(sum(run.read.samples.values())), "seconds": total, "cpu_s": cpu,
                      "peak_rss_mb": peak_rss_mb(), "marks": marks, "segments": len(run.segments),
                      "days": [d.day for d in run.tally.days]}))
    return 0


def vqf_rate(path: Path, hours: float) -> tuple[int, float, float]:
    """Samples, wall seconds and CPU seconds of offlineVQF (6D) over the first ``hours`` of every
    sensor, at the full rate of the file."""
    from vqf import offlineVQF

    parts: dict[str, list] = {}
    t_end = None
    for batch in open_stream(path).batches():
        first = min(float(b.t[0]) for b in batch.values())
        t_end = first + hours * 3600.0 if t_end is None else t_end
        if first >= t_end:
            break
        for loc, b in batch.items():
            keep = b.t < t_end
            parts.setdefault(loc, []).append((b.t[keep], b.acc[keep], b.gyr[keep]))
    n, took, cpu = 0, 0.0, 0.0
    for loc in list(parts):
        t = np.concatenate([p[0] for p in parts[loc]])
        acc = np.ascontiguousarray(np.concatenate([p[1] for p in parts[loc]]), dtype=np.float64)
        gyr = np.ascontiguousarray(np.concatenate([p[2] for p in parts[loc]]), dtype=np.float64)
        del parts[loc]
        rate = 1.0 / float(np.median(np.diff(t[:10000])))
        start, c = time.perf_counter(), cpu_s()
        offlineVQF(gyr, acc, None, 1.0 / rate)
        took += time.perf_counter() - start
        cpu += cpu_s() - c
        n += len(t)
    return n, took, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=7.0, help="length of the simulated recording")
    ap.add_argument("--rate", type=float, default=100.0, help="sampling rate of every sensor, Hz")
    ap.add_argument("--seed", type=int, default=5, help="simulator seed")
    ap.add_argument("--vqf-hours", type=float, default=24.0, help="slice fused by raw offlineVQF")
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv",
                    help="file the recording is written as and replayed from (parquet: the raw archive)")
    ap.add_argument("--workdir", type=Path, help="keep the generated recording here (reused if present)")
    ap.add_argument("--child", nargs=2, type=Path, metavar=("FILE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], args.days)

    from posturewatch.simulators.config import WearerConfig
    from posturewatch.simulators.recording import SENSOR_FORMATS, record

    work = args.workdir or Path(tempfile.mkdtemp(prefix="pw-week-"))
    path = work / SENSOR_FORMATS[args.format]
    if not path.exists():
        t = time.perf_counter()
        record(WearerConfig(hours=24 * args.days, seed=args.seed, rate=args.rate), work, fmt=args.format)
        print(f"simulated {args.days:g} days at {args.rate:g} Hz in {time.perf_counter() - t:.0f} s → "
              f"{path} ({path.stat().st_size / 1e9:.2f} GB)", flush=True)
    t = time.perf_counter()
    run = subprocess.run([sys.executable, __file__, "--days", str(args.days), "--child", str(path),
                          str(work / "out")], stdout=subprocess.PIPE, text=True)  # marks go to stderr live
    wall = time.perf_counter() - t
    if run.returncode != 0:
        return 1
    got = json.loads(run.stdout.strip().splitlines()[-1])
    ours, ours_cpu = got["samples"] / got["seconds"], got["samples"] / got["cpu_s"]
    n_vqf, vqf_s, vqf_cpu = vqf_rate(path, min(args.vqf_hours, 24 * args.days))
    ref, ref_cpu = n_vqf / vqf_s, n_vqf / vqf_cpu
    nan = float("nan")
    first = got["marks"].get("first pass", {"s": nan, "cpu_s": nan, "rss_mb": nan})
    print(f"input: {path.name} ({path.stat().st_size / 1e9:.2f} GB)")
    print(f"samples: {got['samples']} in {got['segments']} segment(s), days {', '.join(got['days'])}")
    print(f"replay end to end: {got['seconds']:.0f} s wall ({wall:.0f} s with start-up) → {ours:,.0f} "
          f"samples/s; {got['cpu_s']:.0f} s CPU → {ours_cpu:,.0f} samples/CPU-s")
    print(f"  first pass (read, clocks, mounting features): {first['s']:.0f} s wall, {first['cpu_s']:.0f} s "
          f"CPU; second pass (read again, analyse, write): {got['seconds'] - first['s']:.0f} s wall, "
          f"{got['cpu_s'] - first['cpu_s']:.0f} s CPU")
    print(f"raw offlineVQF on {min(args.vqf_hours, 24 * args.days):g} h of the same samples: "
          f"{n_vqf} samples in {vqf_s:.1f} s wall ({vqf_cpu:.1f} s CPU) → {ref:,.0f} samples/s")
    print(f"ratio replay / offlineVQF: {ours / ref:.2f} (wall), {ours_cpu / ref_cpu:.2f} (CPU)")
    print(f"peak RSS after the first pass: {first['rss_mb']:.0f} MB")
    for key, mark in got["marks"].items():
        if key.startswith("day"):
            print(f"peak RSS after {key}: {mark['rss_mb']:.0f} MB (at {mark['s']:.0f} s)")
    print(f"peak RSS at the end: {got['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
