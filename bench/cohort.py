"""Benchmark: a simulated cohort on a local Dask cluster with 1 and 2 workers, against plain replay
and against what this machine's cores allow.

Makes ``--recordings`` simulated recordings (``--minutes`` each, 3 sensors at ``--rate`` Hz) and
runs every phase in a fresh process of its own, as a user would run a command (no imports, no
worker server and no warm caches carried from one phase to the next):

- ``plain``: one process replays the recordings one after the other (what `posturewatch replay`
  does for each, with one interpreter start for all);
- ``plain x2``: two such processes side by side, each with half the recordings: the hardware
  reference, i.e. the speed-up two cores give this replay with no Dask at all;
- ``1 worker`` / ``2 workers``: the path of `posturewatch cohort` (worker server launched first,
  then the manifest, then ``run_cohort``) on fresh output folders;
- with ``--dask-defaults`` also 1 and 2 workers with Dask's own worker settings (spawned workers,
  profiler on, ...), to show what ours save;
- with ``--compare PYTHON`` also 1 and 2 workers run by another interpreter, e.g. a venv with an
  older posturewatch installed, interleaved with ours so both see the same minutes' load.

Each phase reports the process's wall time (interpreter start to exit), the wall time of its work
alone (the replays; ``run_cohort``), its CPU seconds (the process, its worker server and workers,
which are free of the other users' load) and the 1-minute load average while it ran. The cohort
phases also print where their fixed time went (``cohort/timeline.py``). ``--repeat`` runs the
phases again, interleaved, and prints every repetition: on a shared machine a single run is noise.
No assertions: the figures are for reading.

    .venv/bin/python bench/cohort.py [--recordings 4] [--minutes 720] [--rate 25] [--repeat 2]
                                     [--workdir DIR] [--dask-defaults]
"""

from __future__ import annotations

# Only the standard library at the top: the worker processes import this file again as their
# main module, and the children import posturewatch themselves, as the command does.
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PHASES = ("plain", "plain x2", "1 worker", "2 workers")
DEFAULT_PHASES = ("1 worker, Dask defaults", "2 workers, Dask defaults")
COMPARED = ", compared"
COMPARED_PHASES = ("1 worker" + COMPARED, "2 workers" + COMPARED)
IDLE_SECONDS = 10.0


def make(work: Path, n: int, minutes: float, rate: float) -> Path:
    from posturewatch.simulators.config import WearerConfig
    from posturewatch.simulators.recording import record

    study = work / "study"
    for i in range(n):
        folder = study / f"P{i:02d}"
        if not (folder / "sensors.csv").exists():
            record(WearerConfig(hours=minutes / 60, seed=100 + i, rate=rate), folder)
    return study


# ---- the children: one phase each, a JSON line of figures on stdout -------------------------

def _process_cpu() -> float:
    """This process's CPU, its reaped children's (spawned workers), and its live children's with
    theirs (the worker server, whose forked workers it reaped)."""
    import psutil

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    for child in psutil.Process().children():
        try:
            t = child.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def _since_start() -> float:
    import psutil

    return time.time() - psutil.Process().create_time()


def child_plain(study: Path, out: Path, recordings: int, part: int, parts: int) -> dict:
    from posturewatch.cohort.manifest import Defaults, load_specs
    from posturewatch.cohort.task import replay_one

    specs = load_specs(study, Defaults())[:recordings][part::parts]
    shutil.rmtree(out, ignore_errors=True)
    ready, t = _since_start(), time.perf_counter()
    for spec in specs:
        replay_one(spec, out / spec.participant, spec.config())
    return {"work": time.perf_counter() - t, "ready": ready, "cpu": _process_cpu(), "n": len(specs)}


def child_cohort(study: Path, out: Path, recordings: int, workers: int, dask_defaults: bool) -> dict:
    try:
        from posturewatch.cohort import workerserver
    except ImportError:  # --compare with a posturewatch from before the worker server
        workerserver = None
    if workerserver is not None and not dask_defaults:
        workerserver.start()  # as `posturewatch cohort` does, before the manifest
    from posturewatch.cohort.manifest import Defaults, load_specs
    from posturewatch.cohort.runner import CohortOptions, run_cohort

    settings = None
    if dask_defaults:
        import dask

        settings = {"distributed.nanny.pre-spawn-environ":
                    dict(dask.config.get("distributed.nanny.pre-spawn-environ")),
                    "distributed.worker.multiprocessing-method": "spawn"}
    specs = load_specs(study, Defaults())[:recordings]
    shutil.rmtree(out, ignore_errors=True)
    ready, t = _since_start(), time.perf_counter()
    outcome = run_cohort(specs, out, CohortOptions(workers=workers, valid_min=1.0, worker_settings=settings),
                         say=lambda _: None)
    work = time.perf_counter() - t
    if len(outcome.done) != len(specs):
        raise SystemExit(f"cohort failed: {outcome.failed}")
    me = resource.getrusage(resource.RUSAGE_SELF)
    return {"work": work, "ready": ready, "cpu": _process_cpu(), "n": len(specs),
            "main_cpu": me.ru_utime + me.ru_stime, "marks": outcome.timings, "results": outcome.results}


def child_idle(workers: int, dask_housekeeping: bool, seconds: float) -> dict:
    """CPU seconds per second of an idle local cluster: this process (scheduler, nannies, client)
    and its workers, with our housekeeping intervals or Dask's (20 ms tick, 500 ms system monitor,
    100 ms memory polls)."""
    from posturewatch.cohort import workerserver

    workerserver.start()
    from posturewatch.cohort.cluster import close_client, open_client, worker_settings

    settings = worker_settings(workers)
    if dask_housekeeping:
        settings.update({"distributed.admin.tick.interval": "20ms",
                         "distributed.admin.system-monitor.interval": "500ms",
                         "distributed.worker.memory.monitor-interval": "100ms"})
    client, cluster = open_client(None, workers, settings=settings)
    try:
        time.sleep(2.0)  # past the start-up
        me0, w0 = time.process_time(), client.run(time.process_time)
        time.sleep(seconds)
        me1, w1 = time.process_time(), client.run(time.process_time)
    finally:
        close_client(client, cluster)
    return {"main": (me1 - me0) / seconds, "workers": sum(w1[k] - w0[k] for k in w0) / seconds}


# ---- the parent ----------------------------------------------------------------------------

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
        got = self.samples.pop(phase, None) or [os.getloadavg()[0]]
        return f"{sum(got) / len(got):4.1f} (max {max(got):4.1f})"


def run_phase(name: str, args: argparse.Namespace, study: Path, work: Path) -> dict:
    """The phase in fresh processes: process wall time and the children's figures."""
    python = args.compare if name.endswith(COMPARED) else sys.executable
    base = [python, __file__, "--child", "--workdir", str(work), "--recordings", str(args.recordings)]
    slug = name.replace(" ", "_").replace(",", "")
    if name.startswith("plain"):
        parts = 2 if name == "plain x2" else 1
        cmds = [base + ["--kind", "plain", "--part", str(i), "--parts", str(parts),
                        "--out", str(work / f"{slug}-{i}")] for i in range(parts)]
    else:
        cmds = [base + ["--kind", "cohort", "--workers", name[0], "--out", str(work / slug)]
                + (["--dask-defaults"] if "Dask defaults" in name else [])]
    t = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for cmd in cmds]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t
    if any(p.returncode for p in procs):
        raise SystemExit(f"{name}: a child failed")
    got = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    phase = {"wall": wall, "work": max(g["work"] for g in got), "cpu": sum(g["cpu"] for g in got),
             "ready": max(g["ready"] for g in got)}
    for key in ("marks", "results", "main_cpu"):
        if key in got[0]:
            phase[key] = got[0][key]
    return phase


def _tasks(p: dict) -> float:
    marks = p["marks"]
    if "submitted" not in marks:  # --compare with an older posturewatch: durations, not moments
        return marks["tasks"]
    return marks["tasks_done"] - marks["submitted"]


def report(rep: int, best: dict[str, dict], load: LoadSampler, phases: dict[str, dict], n: int) -> None:
    print(f"\nrepetition {rep}: {'':13s} {'process s':>9s} {'start s':>7s} {'work s':>7s} {'exit s':>6s} "
          f"{'CPU s':>7s} {'cores':>5s}  load avg")
    for name, p in phases.items():
        print(f"  {name:26s} {p['wall']:9.1f} {p['ready']:7.1f} {p['work']:7.1f} "
              f"{p['wall'] - p['ready'] - p['work']:6.1f} {p['cpu']:7.1f} {p['cpu'] / p['wall']:5.2f}  "
              f"{load.text(name)}")
        if name not in best or p["wall"] < best[name]["wall"]:
            best[name] = p
    ratios(phases, n)
    if "1 worker" + COMPARED in phases:
        print("  the same with the compared interpreter:")
        ratios(phases, n, COMPARED)
    from posturewatch.cohort.timeline import breakdown

    for name in ("1 worker", "2 workers"):
        print(f"  where the time of '{name}' went (s since run_cohort began):")
        for label, seconds in breakdown(phases[name]["marks"]):
            print(f"    {label:46s} {seconds:7.2f}")
        other = phases.get(name + COMPARED, {}).get("marks", {})
        if "submitted" not in other and other:  # an older install: its durations as it named them
            print("    compared install's own timings: "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in other.items()))


def _pct(a: float, b: float) -> str:
    return f"{(a / b - 1) * 100:+5.1f} %"


def ratios(p: dict[str, dict], n: int, suffix: str = "") -> None:
    plain, two_plain = p["plain"], p["plain x2"]
    one, two = p["1 worker" + suffix], p["2 workers" + suffix]
    ceiling, ceiling_work = plain["wall"] / two_plain["wall"], plain["work"] / two_plain["work"]
    print(f"  hardware reference, 2 plain processes / 1:    {ceiling:5.2f}x process, "
          f"{ceiling_work:5.2f}x replays alone")
    whole, work, tasks = one["wall"] / two["wall"], one["work"] / two["work"], _tasks(one) / _tasks(two)
    print(f"  speed-up 2 workers / 1:                       {whole:5.2f}x process, {work:5.2f}x run_cohort, "
          f"{tasks:5.2f}x tasks ({whole / ceiling * 100:.0f} % / {work / ceiling_work * 100:.0f} % of "
          f"the reference)")
    print(f"  overhead 1 worker vs plain:                   {_pct(one['wall'], plain['wall'])} process, "
          f"{_pct(one['work'], plain['work'])} run_cohort vs replays, "
          f"{_pct(_tasks(one), plain['work'])} tasks vs replays")
    print(f"  overhead 2 workers vs 2 plain processes:      {_pct(two['wall'], two_plain['wall'])} process, "
          f"{_pct(two['work'], two_plain['work'])} run_cohort vs replays")
    for name in ("1 worker" + suffix, "2 workers" + suffix):
        results = p[name]["results"]
        task_cpu = sum(r["process_cpu_seconds"] for r in results)
        share = task_cpu / sum(r["seconds"] for r in results)
        peaks: dict[str, float] = {}
        for r in results:
            peaks[r["worker"]] = max(peaks.get(r["worker"], 0.0), r["peak_rss_mb"])
        tasks_per_worker = sorted(sum(1 for r in results if r["worker"] == w) for w in peaks)
        print(f"  {name}: CPU {p[name]['cpu'] / n:.2f} s a recording (plain {plain['cpu'] / n:.2f} s), "
              f"of it the tasks' {task_cpu / n:.2f} s, the command's own process (scheduler, client, "
              f"nannies, tables) {p[name].get('main_cpu', 0):.1f} s in all; a task got "
              f"{share * 100:.0f} % of a core; tasks per worker {tasks_per_worker}; peak RSS per worker "
              + ", ".join(f"{v:.0f} MB" for v in peaks.values()))


def idle_cpu(work: Path) -> None:
    """What an idle 2-worker cluster costs with our housekeeping intervals and with Dask's."""
    print(f"\nidle 2-worker cluster for {IDLE_SECONDS:g} s, CPU seconds per second (the cost of the "
          "event loops' health checks, system monitors and memory polls, and the heartbeats):")
    for label, flag in (("ours (1 s, 2 s, 0.5 s)", []),
                        ("Dask's (20 ms, 500 ms, 100 ms)", ["--dask-defaults"])):
        cmd = [sys.executable, __file__, "--child", "--kind", "idle", "--workers", "2",
               "--workdir", str(work), *flag]
        run = subprocess.run(cmd, capture_output=True, text=True, check=True)
        got = json.loads(run.stdout.splitlines()[-1])
        print(f"  {label:30s} command's process {got['main']:.4f}, workers {got['workers']:.4f}")


def parent(args: argparse.Namespace) -> int:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pw-cohort-bench-"))
    t = time.perf_counter()
    study = make(work, args.recordings, args.minutes, args.rate)
    print(f"{args.recordings} recordings of {args.minutes:g} min at {args.rate:g} Hz "
          f"(made in {time.perf_counter() - t:.0f} s) in {study}; "
          f"{len(os.sched_getaffinity(0))} usable cores")
    names = PHASES + (DEFAULT_PHASES if args.dask_defaults else ())
    names += COMPARED_PHASES if args.compare else ()
    best: dict[str, dict] = {}
    with LoadSampler() as load:
        for rep in range(1, args.repeat + 1):
            phases = {}
            for name in names:
                load.phase = name
                phases[name] = run_phase(name, args, study, work)
                load.phase = ""
            report(rep, best, load, phases, args.recordings)
    idle_cpu(work)
    if args.repeat > 1:
        print("\nbest of each phase:")
        ratios(best, args.recordings)
        if args.compare:
            print("  the same with the compared interpreter:")
            ratios(best, args.recordings, COMPARED)
    print("(process: interpreter start to exit; start: to the work's start (imports, manifest); work: the "
          "replays, or run_cohort; exit: after it; cores: CPU s per wall s)")
    if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1":
        print("note: the kernel's autogroup is on: this session's processes share one fair share of the "
              "CPU, so on a busy machine two processes get no more of it than one")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=720.0)
    ap.add_argument("--rate", type=float, default=25.0)
    ap.add_argument("--repeat", type=int, default=2, help="interleaved repetitions, each printed")
    ap.add_argument("--dask-defaults", action="store_true",
                    help="also run 1 and 2 workers with Dask's default worker settings")
    ap.add_argument("--compare", metavar="PYTHON",
                    help="also run the cohort phases with this interpreter (another posturewatch install)")
    ap.add_argument("--workdir", type=Path, help="keep the generated study here (default: a temp dir)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--kind", choices=("plain", "cohort", "idle"), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--parts", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.child:
        return parent(args)
    import logging

    logging.getLogger().setLevel(logging.ERROR)
    study = args.workdir / "study"
    if args.kind == "idle":
        got = child_idle(args.workers, args.dask_defaults, IDLE_SECONDS)
    elif args.kind == "plain":
        got = child_plain(study, args.out, args.recordings, args.part, args.parts)
    else:
        got = child_cohort(study, args.out, args.recordings, args.workers, args.dask_defaults)
    print(json.dumps(got))
    return 0


if __name__ == "__main__":
    sys.exit(main())
