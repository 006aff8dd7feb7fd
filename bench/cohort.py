"""Benchmark: a simulated cohort on a local Dask cluster with 1 and 2 workers, against plain replay.

Makes ``--recordings`` simulated recordings (``--minutes`` each, 3 sensors at ``--rate`` Hz) and
times, in the same run: the recordings replayed in this process one after the other (what
`posturewatch replay` does for each, without its interpreter start), then the cohort with 1 and
with 2 workers (fresh output folders; wall time from the command's start to its end: starting
and closing the cluster, the tasks, the cohort tables and report). ``--dask-defaults`` adds a
1-worker run with Dask's own worker settings, to show what ours save.

The machine is shared, so every phase also reports its CPU seconds (this process plus the worker
processes, which are its children: free of the other users' load), the cores it got (CPU seconds
per wall second) and the 1-minute load average sampled while it ran. With the kernel's autogroup
on, every process of one terminal session shares one fair share of the CPU: on a busy machine two
workers then get what one got, and only the speed-up computed from the tasks' CPU seconds says
what idle cores would give. No assertions: the figures are for reading.

    .venv/bin/python bench/cohort.py [--recordings 6] [--minutes 180] [--rate 25] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dask

from posturewatch.cohort.cluster import open_client, usable_cores
from posturewatch.cohort.manifest import Defaults, load_specs
from posturewatch.cohort.runner import CohortOptions, run_cohort
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


class LoadSampler:
    """The 1-minute load average every 2 s, in a thread, labelled with the running phase."""

    def __init__(self) -> None:
        self.phase = ""
        self.samples: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(2.0):
            if self.phase:
                self.samples.setdefault(self.phase, []).append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def text(self, phase: str) -> str:
        got = self.samples.get(phase) or [os.getloadavg()[0]]
        return f"{sum(got) / len(got):4.1f} (max {max(got):4.1f})"


@dataclass
class Phase:
    wall: float
    cpu: float  # this process and its reaped children (the workers)
    results: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _cpu_now() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def plain(specs, out: Path) -> Phase:
    shutil.rmtree(out, ignore_errors=True)
    t, cpu = time.perf_counter(), _cpu_now()
    for spec in specs:
        replay_one(spec, out / spec.participant, spec.config())
    return Phase(time.perf_counter() - t, _cpu_now() - cpu)


def cohort(specs, out: Path, workers: int, settings: dict | None = None) -> Phase:
    shutil.rmtree(out, ignore_errors=True)
    t, cpu = time.perf_counter(), _cpu_now()
    outcome = run_cohort(specs, out, CohortOptions(workers=workers, valid_min=1.0, worker_settings=settings),
                         say=lambda _: None)
    phase = Phase(time.perf_counter() - t, _cpu_now() - cpu, outcome.results, outcome.timings)
    assert len(outcome.done) == len(specs), outcome.failed
    return phase


def paired(specs, work: Path, settings: dict | None = None) -> tuple[float, float]:
    """CPU seconds of each recording replayed here and, right after, as a task on a warm 1-worker
    cluster (the task's own process CPU): the same minute's load on both, the cluster's start and
    close left out. Returns the two sums."""
    client, cluster = open_client(None, 1, settings=settings)
    try:
        here = there = 0.0
        for spec in specs:
            out = work / "paired"
            shutil.rmtree(out, ignore_errors=True)
            t = _cpu_now()
            replay_one(spec, out / "plain", spec.config())
            here += _cpu_now() - t
            got = client.submit(run_recording, spec, str(out), stamp(spec), pure=False).result()
            there += got["process_cpu_seconds"]
        return here, there
    finally:
        client.close()
        cluster.close()


def dask_defaults() -> dict[str, object]:
    """Dask's own settings for new workers (what `dask worker` starts with)."""
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    return {"distributed.nanny.pre-spawn-environ": env, "distributed.worker.profile.enabled": True,
            "distributed.worker.preload": []}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=int, default=6)
    ap.add_argument("--minutes", type=float, default=180.0)
    ap.add_argument("--rate", type=float, default=25.0)
    ap.add_argument("--repeat", type=int, default=1, help="interleaved repetitions; the best of each")
    ap.add_argument("--dask-defaults", action="store_true",
                    help="also run 1 worker with Dask's default worker settings")
    ap.add_argument("--workdir", type=Path, help="keep the generated study here (default: a temp dir)")
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.ERROR)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pw-cohort-bench-"))
    t = time.perf_counter()
    study = make(work, args.recordings, args.minutes, args.rate)
    print(f"{args.recordings} recordings of {args.minutes:g} min at {args.rate:g} Hz "
          f"(made in {time.perf_counter() - t:.0f} s) in {study}; {usable_cores()} usable cores")
    specs = load_specs(study, Defaults())[: args.recordings]  # a kept --workdir may hold more
    n = len(specs)

    runs = {"plain": lambda: plain(specs, work / "plain"),
            "1 worker": lambda: cohort(specs, work / "one", 1),
            "2 workers": lambda: cohort(specs, work / "two", 2)}
    if args.dask_defaults:
        runs["1 worker, Dask defaults"] = lambda: cohort(specs, work / "dflt", 1, dask_defaults())
    best: dict[str, Phase] = {}
    with LoadSampler() as load:
        for _ in range(args.repeat):  # interleaved, best of each: the machine's load changes by the minute
            for name, run in runs.items():
                load.phase = name
                got = run()
                load.phase = ""
                print(f"  {name}: {got.wall:.1f} s wall, {got.cpu:.1f} s CPU", flush=True)
                if name not in best or got.wall < best[name].wall:
                    best[name] = got

    print(f"\n{'':26s} {'wall s':>8s} {'CPU s':>8s} {'CPU s/rec':>9s} {'cores':>5s} {'start':>6s} "
          f"{'tasks':>6s} {'close':>6s} {'tables':>6s}  load avg during")
    for name, p in best.items():
        tm = p.timings
        fixed = (f"{tm.get('start', 0):6.1f} {tm.get('tasks', 0):6.1f} {tm.get('close', 0):6.1f} "
                 f"{tm.get('outputs', 0):6.1f}" if tm else " " * 27)
        print(f"{name:26s} {p.wall:8.1f} {p.cpu:8.1f} {p.cpu / n:9.2f} {p.cpu / p.wall:5.2f} {fixed}  "
              f"{load.text(name)}")
    print("(cores: CPU seconds per wall second, the share of the machine this run got)")
    if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1":
        print("note: the kernel's autogroup is on: this session's processes share one fair share of "
              "the CPU, so on a busy machine a second worker gets no more of it than one")
    ref, one, two = best["plain"], best["1 worker"], best["2 workers"]
    print(f"\nspeed-up 2 workers / 1, whole command:       {one.wall / two.wall:5.2f}x")
    print(f"speed-up 2 workers / 1, while tasks ran:     {one.timings['tasks'] / two.timings['tasks']:5.2f}x")
    print(f"overhead 1 worker vs plain, whole command:   "
          f"{(one.wall - ref.wall) / ref.wall * 100:+6.1f} % wall")
    print(f"overhead 1 worker vs plain, while tasks ran: "
          f"{(one.timings['tasks'] - ref.wall) / ref.wall * 100:+6.1f} % wall")
    print(f"overhead 1 worker vs plain, CPU a recording: {(one.cpu - ref.cpu) / ref.cpu * 100:+6.1f} % "
          f"(the cluster's start, close and the tables included)")
    per_worker: dict[str, float] = {}
    for r in two.results:
        per_worker[r["worker"]] = per_worker.get(r["worker"], 0.0) + r["process_cpu_seconds"]
    one_tasks = sum(r["process_cpu_seconds"] for r in one.results)
    print(f"speed-up 2 workers / 1 on idle cores, from the tasks' CPU seconds: "
          f"{one_tasks / max(per_worker.values()):5.2f}x (1 worker's task CPU / the busier worker's; "
          f"tasks per worker {sorted(Counter(r['worker'] for r in two.results).values())}, CPU a task "
          f"{one_tasks / n:.2f} s with 1 worker, {sum(per_worker.values()) / n:.2f} s with 2)")
    task_cpu = sum(r["process_cpu_seconds"] for r in one.results)
    print(f"CPU of the tasks alone (worker process, 1 worker): {task_cpu / n:.2f} s a recording "
          f"({(task_cpu - ref.cpu) / ref.cpu * 100:+.1f} % vs plain)")
    if "1 worker, Dask defaults" in best:
        d = best["1 worker, Dask defaults"]
        print(f"Dask's default worker settings, 1 worker: {d.cpu / n:.2f} s CPU a recording "
              f"({(d.cpu - one.cpu) / one.cpu * 100:+.1f} % vs ours)")
    with LoadSampler() as load:
        load.phase = "paired"
        pairs = {"ours": paired(specs, work)}
        if args.dask_defaults:
            pairs["Dask defaults"] = paired(specs, work, dask_defaults())
    for label, (here, there) in pairs.items():
        print(f"paired, recording by recording on a warm worker ({label}): plain {here / n:.2f} s CPU, "
              f"task {there / n:.2f} s CPU a recording ({(there - here) / here * 100:+.1f} %); "
              f"load {load.text('paired')}")
    for label, p in (("1 worker", one), ("2 workers", two)):
        share = sum(r["process_cpu_seconds"] for r in p.results) / sum(r["seconds"] for r in p.results)
        peaks: dict[str, float] = {}
        for r in p.results:
            peaks[r["worker"]] = max(peaks.get(r["worker"], 0.0), r["peak_rss_mb"])
        print(f"{label}: a task got {share * 100:.0f} % of a core; peak RSS per worker "
              + ", ".join(f"{v:.0f} MB" for v in peaks.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
