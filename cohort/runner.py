"""Drive a cohort on Dask: skip what is finished, one task per recording, progress, tables.

The tasks run on a local cluster or an existing scheduler (``cluster.py``). Failed recordings
are listed in ``failed.csv`` and do not stop the others (a worker that died or went over its
memory limit has its task retried ``retries`` times); Ctrl-C cancels the futures and closes the
cluster, and the next run picks up where this one stopped.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed import Client, Future, LocalCluster, wait

from posturewatch.cohort.cluster import dashboard_of, open_client
from posturewatch.cohort.manifest import RecordingSpec
from posturewatch.cohort.progress import CohortProgress
from posturewatch.cohort.report import write_report
from posturewatch.cohort.tables import DAYS, PARTICIPANTS, days_table, participants_table, write_table
from posturewatch.cohort.task import OLD_PREFIX, TMP_PREFIX, finished, run_recording, stamp

FAILED = "failed.csv"


@dataclass
class CohortOptions:
    workers: int = 2
    scheduler: str | None = None
    memory_limit: int | None = None  # bytes per local worker; None: total / workers, ≤ 4 GiB
    retries: int = 2
    valid_min: float = 600.0
    connect_timeout: float = 30.0  # seconds to reach ``scheduler`` before giving up
    worker_settings: dict[str, object] | None = None  # Dask config of local workers; None: ours


@dataclass
class CohortOutcome:
    done: list[str] = field(default_factory=list)  # finished in this run
    skipped: list[str] = field(default_factory=list)  # finished before, stamp unchanged
    failed: list[dict[str, str]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)  # the tasks' summaries
    interrupted: bool = False
    dashboard: str | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # start, tasks, close, outputs (s)


def _clean_leftovers(out: Path) -> None:
    """Temporary folders of tasks that a killed run never finished."""
    for p in out.iterdir():
        if p.is_dir() and p.name.startswith((TMP_PREFIX, OLD_PREFIX)):
            shutil.rmtree(p, ignore_errors=True)


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
    closing = _run_tasks(todo, out, options, stamps, outcome, say, status) if todo else None
    try:  # the tables and the report are written while the workers shut down
        _write_failed(out, outcome.failed)
        if not outcome.interrupted:
            t = time.perf_counter()
            write_outputs(specs, out, stamps, outcome.failed, options.valid_min)
            outcome.timings["outputs"] = time.perf_counter() - t
    finally:
        if closing is not None:
            closing.join()
    outcome.seconds = time.monotonic() - t0
    return outcome


def _run_tasks(todo: list[RecordingSpec], out: Path, options: CohortOptions,
               stamps: dict[str, dict[str, str]], outcome: CohortOutcome,
               say: Callable[[str], None], status: Callable[[str], None]) -> threading.Thread:
    """Run the tasks; returns the started thread that closes the client and the local cluster
    (already joined after an interruption)."""
    t0 = time.perf_counter()
    client, cluster = open_client(options.scheduler, options.workers, options.memory_limit,
                                  options.connect_timeout, options.worker_settings)
    outcome.timings["start"] = (t1 := time.perf_counter()) - t0
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
        outcome.timings["tasks"] = time.perf_counter() - t1
        closing = threading.Thread(target=_close, args=(client, cluster, outcome), name="cohort-close")
        closing.start()
        if outcome.interrupted:
            closing.join()
    return closing


def _close(client: Client, cluster: LocalCluster | None, outcome: CohortOutcome) -> None:
    t = time.perf_counter()
    quiet = logging.getLogger("distributed")
    level = quiet.level
    if not quiet.isEnabledFor(logging.INFO):  # a worker slow to exit is killed by its nanny: not news
        quiet.setLevel(logging.ERROR)
    try:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
    finally:
        quiet.setLevel(level)
    outcome.timings["close"] = time.perf_counter() - t


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
