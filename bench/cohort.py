"""Benchmark: a simulated cohort on a local Dask cluster with 1 and 2 workers, against plain replay.

Makes ``--recordings`` simulated recordings (``--minutes`` each, 3 sensors at ``--rate`` Hz) and
times, in the same run: each recording replayed in this process one after the other (what
`posturewatch replay` does, without its interpreter start), the cohort with 1 worker and with 2
workers (fresh output folders; the wall time includes starting and closing the cluster and
writing the cohort tables and report). Prints the speed-up of 2 workers over 1, the overhead per
recording of the 1-worker cohort against plain replay (with and without the cluster's start and
close), and each worker's peak memory. No assertions: the machines are shared and noisy.

    .venv/bin/python bench/cohort.py [--recordings 6] [--minutes 90] [--rate 25] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from posturewatch.cohort.manifest import Defaults, load_specs
from posturewatch.cohort.runner import CohortOptions, open_client, run_cohort
from posturewatch.cohort.task import replay_one, run_recording, stamp
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.recording import record


def make(work: Path, n: int, minutes: float, rate: float) -> Path:
    study = work / "study"
    for i in range(n):
        folder = study / f"P{i:02d}"
        if not (folder / "sensors.csv").exists():
            record(WearerConfig(hours=minutes / 60, seed=100 + i, rate=rate), folder)
    return study


def cohort_run(specs, out: Path, workers: int) -> tuple[float, list[dict]]:
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    outcome = run_cohort(specs, out, CohortOptions(workers=workers, valid_min=1.0), say=lambda _: None)
    wall = time.perf_counter() - t
    assert len(outcome.done) == len(specs), outcome.failed
    return wall, outcome.results


def cluster_start_stop(workers: int) -> float:
    t = time.perf_counter()
    client, cluster = open_client(CohortOptions(workers=workers))
    client.wait_for_workers(workers)
    client.close()
    cluster.close()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=int, default=6)
    ap.add_argument("--minutes", type=float, default=90.0)
    ap.add_argument("--rate", type=float, default=25.0)
    ap.add_argument("--repeat", type=int, default=2, help="interleaved repetitions; the best of each")
    ap.add_argument("--workdir", type=Path, help="keep the generated study here (default: a temp dir)")
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.ERROR)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pw-cohort-bench-"))
    t = time.perf_counter()
    study = make(work, args.recordings, args.minutes, args.rate)
    print(f"{args.recordings} recordings of {args.minutes:g} min at {args.rate:g} Hz "
          f"(made in {time.perf_counter() - t:.0f} s) in {study}")
    specs = load_specs(study, Defaults())

    best: dict[str, tuple] = {}
    for _ in range(args.repeat):  # interleaved, best of each: the machine's load changes by the minute
        t, cpu = time.perf_counter(), time.process_time()
        for spec in specs:
            replay_one(spec, work / "plain" / spec.participant, spec.config())
        runs = {"plain": (time.perf_counter() - t, time.process_time() - cpu),
                "startup": (cluster_start_stop(1), None),
                "one": cohort_run(specs, work / "one", 1), "two": cohort_run(specs, work / "two", 2)}
        for k, v in runs.items():
            if k not in best or v[0] < best[k][0]:
                best[k] = v
    wrap = own = 0.0
    for spec in specs:  # the task's own additions (done.json, daily figures, rename), no Dask
        t = time.thread_time()
        replay_one(spec, work / "plain" / spec.participant, spec.config())
        own += time.thread_time() - t
        t = time.thread_time()
        run_recording(spec, str(work / "wrapped"), stamp(spec))
        wrap += time.thread_time() - t
    shutil.rmtree(work / "wrapped", ignore_errors=True)
    (plain, plain_cpu), (startup, _) = best["plain"], best["startup"]
    (one, one_results), (two, two_results) = best["one"], best["two"]

    n = len(specs)
    task_sum = sum(r["seconds"] for r in one_results)
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for label, results in (("1 worker", one_results), ("2 workers", two_results)):
        cpu = sum(r["process_cpu_seconds"] for r in results) / sum(r["seconds"] for r in results)
        print(f"CPU share a task got ({label}): {cpu * 100:.0f} % of a core")
    print(f"plain replay, in process:     {plain:7.1f} s  ({plain / n:.2f} s a recording)")
    print(f"cluster start + close (1 w):  {startup:7.1f} s")
    print(f"cohort, 1 worker:             {one:7.1f} s  (tasks {task_sum:.1f} s)")
    print(f"cohort, 2 workers:            {two:7.1f} s")
    print(f"speed-up 2 workers / 1:       {one / two:7.2f}x")
    print(f"overhead per recording, 1 worker, whole run:        {(one - plain) / plain * 100:+6.1f} %")
    print(f"overhead per recording, 1 worker, without start/close: "
          f"{(one - startup - plain) / plain * 100:+6.1f} %")
    print(f"overhead per recording inside the task (done.json, daily figures, rename): "
          f"{(task_sum - plain) / plain * 100:+6.1f} %")
    task_cpu = sum(r["cpu_seconds"] for r in one_results)
    worker_cpu = sum(r["process_cpu_seconds"] for r in one_results)
    print(f"CPU seconds (free of the machine's load): plain replay {plain_cpu:.1f} s; cohort tasks "
          f"{task_cpu:.1f} s in the task's thread ({(task_cpu - plain_cpu) / plain_cpu * 100:+.1f} %), "
          f"{worker_cpu:.1f} s in the whole worker process "
          f"({(worker_cpu - plain_cpu) / plain_cpu * 100:+.1f} %)")
    print(f"the task wrapper in this process, no Dask: {(wrap - own) / own * 100:+.1f} % CPU a recording")
    for label, results in (("1 worker", one_results), ("2 workers", two_results)):
        peaks: dict[str, float] = {}
        for r in results:
            peaks[r["worker"]] = max(peaks.get(r["worker"], 0.0), r["peak_rss_mb"])
        print(f"peak RSS per worker ({label}): " + ", ".join(f"{v:.0f} MB" for v in peaks.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
