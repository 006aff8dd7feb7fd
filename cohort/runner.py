"""Drive a cohort on Dask: skip what is finished, one task per recording, progress, tables.

A local cluster (``workers`` processes, one thread each: the pipeline is CPU-bound numpy and VQF
code that holds the GIL in places) or an existing scheduler (``scheduler``). Each local worker
gets ``memory_limit`` bytes (default: total RAM / workers, at most 4 GiB); Dask's nanny restarts
a worker that goes over it and the task is retried. Failed recordings are listed in
``failed.csv`` and do not stop the others; Ctrl-C cancels the futures and closes the cluster,
and the next run picks up where this one stopped.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import psutil
from distributed import Client, Future, LocalCluster, wait

from posturewatch.cohort.manifest import RecordingSpec
from posturewatch.cohort.progress import CohortProgress
from posturewatch.cohort.report import write_report
from posturewatch.cohort.tables import DAYS, PARTICIPANTS, days_table, participants_table, write_table
from posturewatch.cohort.task import OLD_PREFIX, TMP_PREFIX, finished, run_recording, stamp

MAX_WORKER_MEMORY = 4 * 1024**3
FAILED = "failed.csv"


class CohortError(RuntimeError):
    """The cluster cannot be started or reached."""


@dataclass
class CohortOptions:
    workers: int = 2
    scheduler: str | None = None
    memory_limit: int | None = None  # bytes per local worker; None: total / workers, ≤ 4 GiB
    retries: int = 2
    valid_min: float = 600.0
    connect_timeout: float = 30.0  # seconds to reach ``scheduler`` before giving up


@dataclass
class CohortOutcome:
    done: list[str] = field(default_factory=list)  # finished in this run
    skipped: list[str] = field(default_factory=list)  # finished before, stamp unchanged
    failed: list[dict[str, str]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)  # the tasks' summaries
    interrupted: bool = False
    dashboard: str | None = None
    seconds: float = 0.0


def worker_memory_limit(workers: int) -> int:
    """The machine's memory split between the workers, at most 4 GiB each."""
    return int(min(psutil.virtual_memory().total / max(workers, 1), MAX_WORKER_MEMORY))


def _clean_leftovers(out: Path) -> None:
    """Temporary folders of tasks that a killed run never finished."""
    for p in out.iterdir():
        if p.is_dir() and p.name.startswith((TMP_PREFIX, OLD_PREFIX)):
            shutil.rmtree(p, ignore_errors=True)


def worker_environment() -> dict[str, object]:
    """Dask's environment for new workers without ``MALLOC_TRIM_THRESHOLD_``: a fixed trim threshold
    turns off glibc's adaptive mmap threshold, so every large numpy temporary is mapped and
    unmapped again; measured, the replay then costs about 50 % more CPU. The one-thread-per-library
    settings (OMP, MKL, OpenBLAS) stay."""
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    return env


def open_client(options: CohortOptions) -> tuple[Client, LocalCluster | None]:
    if not logging.getLogger().isEnabledFor(logging.INFO):
        # the scheduler runs in this process: its start-up chatter only with -v
        logging.getLogger("distributed").setLevel(logging.WARNING)
    if options.scheduler:
        try:
            return Client(options.scheduler, timeout=options.connect_timeout), None
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CohortError(f"cannot reach the Dask scheduler {options.scheduler} within "
                              f"{options.connect_timeout:g} s: {why}") from None
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environment()}):
            cluster = LocalCluster(n_workers=options.workers, threads_per_worker=1, processes=True,
                                   memory_limit=options.memory_limit or worker_memory_limit(options.workers),
                                   dashboard_address=":0")
    except (OSError, RuntimeError, TimeoutError) as exc:
        raise CohortError(f"cannot start {options.workers} local Dask workers: {exc}") from None
    return Client(cluster), cluster


def dashboard_of(client: Client) -> str | None:
    """The dashboard address, when the scheduler serves one (it needs bokeh)."""
    with contextlib.suppress(Exception):
        if "dashboard" in client.scheduler_info().get("services", {}):
            return client.dashboard_link
    return None


def _write_failed(out: Path, failed: list[dict[str, str]]) -> None:
    with (out / FAILED).open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["participant", "error", "inputs"])
        w.writeheader()
        w.writerows(failed)


def run_cohort(specs: list[RecordingSpec], out: Path, options: CohortOptions,
               say: Callable[[str], None] | None = None,
               status: Callable[[str], None] | None = None) -> CohortOutcome:
    """Replay every recording not yet finished, then write the cohort tables and report.

    ``say`` gets a line per event (a recording finished or failed, the dashboard); ``status``
    gets the live progress line about once a second while recordings run."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    status = status or (lambda line: None)
    t0 = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(out)
    outcome = CohortOutcome()
    stamps = {s.participant: stamp(s) for s in specs}
    todo = [s for s in specs if finished(out / s.participant, stamps[s.participant]) is None]
    outcome.skipped = [s.participant for s in specs if s not in todo]
    if outcome.skipped:
        say(f"cohort: {len(outcome.skipped)} of {len(specs)} recordings already finished; skipped")
    if todo:
        _run_tasks(todo, out, options, stamps, outcome, say, status)
    _write_failed(out, outcome.failed)
    if not outcome.interrupted:
        write_outputs(specs, out, stamps, outcome.failed, options.valid_min)
    outcome.seconds = time.monotonic() - t0
    return outcome


def _run_tasks(todo: list[RecordingSpec], out: Path, options: CohortOptions,
               stamps: dict[str, dict[str, str]], outcome: CohortOutcome,
               say: Callable[[str], None], status: Callable[[str], None]) -> None:
    client, cluster = open_client(options)
    futures: dict[Future, RecordingSpec] = {}
    try:
        outcome.dashboard = dashboard_of(client)
        say(f"cohort: dashboard {outcome.dashboard}" if outcome.dashboard else
            "cohort: no dashboard (install bokeh for one)")
        if options.scheduler and not client.scheduler_info().get("workers"):
            say(f"cohort: the scheduler {options.scheduler} has no workers yet; the recordings wait "
                "for them")
        progress = CohortProgress(len(todo), skipped=len(outcome.skipped))
        keys = {}
        for spec in todo:
            key = f"cohort-{spec.participant}-{stamps[spec.participant]['config_hash']}"
            fut = client.submit(run_recording, spec, str(out), stamps[spec.participant], key=key,
                                retries=options.retries, pure=False)
            futures[fut] = spec
            keys[key] = spec.participant
        pending = set(futures)
        while pending:
            try:
                finished_now, pending = wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                status(progress.status(_running(client, keys)))
                continue
            for fut in finished_now:
                _record(_result_of(fut, futures[fut]), futures[fut], outcome, progress, say)
    except KeyboardInterrupt:
        outcome.interrupted = True
        logging.getLogger("distributed").setLevel(logging.ERROR)  # cancelled tasks are not news
        say("cohort: interrupted; cancelling — run the same command again to continue")
        with contextlib.suppress(Exception):
            client.cancel(list(futures))
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def _result_of(fut: Future, spec: RecordingSpec) -> dict[str, Any]:
    try:
        return fut.result()
    except Exception as exc:  # retries exhausted: a worker died, or an unexpected error
        return {"participant": spec.participant, "status": "failed",
                "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}


def _record(result: dict[str, Any], spec: RecordingSpec, outcome: CohortOutcome,
            progress: CohortProgress, say: Callable[[str], None]) -> None:
    outcome.results.append(result)
    ok = result["status"] == "done"
    progress.record(spec.participant, ok)
    if ok:
        outcome.done.append(spec.participant)
        what = f"done in {result['seconds']:.1f} s"
    else:
        outcome.failed.append({"participant": spec.participant, "error": result["error"],
                               "inputs": " ".join(str(p) for p in spec.inputs())})
        what = f"FAILED: {result['error']}"
    say(progress.finished_line(spec.participant, what))


def _running(client: Client, keys: dict[str, str]) -> list[str]:
    """The participants whose tasks a worker is processing now."""
    with contextlib.suppress(Exception):
        return sorted(keys[k] for ks in client.processing().values() for k in ks if k in keys)
    return []


def write_outputs(specs: list[RecordingSpec], out: Path, stamps: dict[str, dict[str, str]],
                  failed: list[dict[str, str]], valid_min: float) -> list[Path]:
    """Cohort tables (CSV + Parquet) and report from every finished participant's done.json."""
    days = {}
    for spec in specs:
        done = finished(out / spec.participant, stamps[spec.participant])
        if done is not None:
            days[spec.participant] = done.get("days", [])
    day_rows = days_table(days)
    people = participants_table(day_rows, list(days), valid_min)
    paths = write_table(day_rows, out, DAYS) + write_table(people, out, PARTICIPANTS)
    paths += list(write_report(people, failed, out, valid_min))
    return paths
