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

from posturewatch.cohort import workerserver
from posturewatch.cohort.cluster import close_client, dashboard_of, open_client
from posturewatch.cohort.manifest import RecordingSpec
from posturewatch.cohort.progress import CohortProgress
from posturewatch.cohort.tables import DAYS, PARTICIPANTS, days_table, participants_table, write_table
from posturewatch.cohort.task import OLD_PREFIX, TMP_PREFIX, finished, run_recording, stamp
from posturewatch.cohort.timeline import Clock

FAILED = "failed.csv"
STATUS_EVERY = 2.0  # seconds between live progress lines (each asks the scheduler what runs)


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
    timings: dict[str, float] = field(default_factory=dict)  # moments of the run (s since its start)


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

    ``say`` gets a line per event (a recording finished or failed, the dashboard); ``status``, when
    given, gets the live progress line about every ``STATUS_EVERY`` seconds while recordings run.
    ``outcome.timings`` says where the time went (seconds from the start of this call, see
    ``timeline``)."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    clock = Clock()
    outcome = CohortOutcome(timings=clock.marks)
    out.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(out)
    starting: _Start | None = None
    try:
        stamps, todo = {}, []
        for spec in specs:  # the cluster starts at the first recording left to do, beside the scan
            stamps[spec.participant] = stamp(spec)
            if finished(out / spec.participant, stamps[spec.participant]) is None:
                todo.append(spec)
                if starting is None:
                    starting = _Start(options)
        clock.mark("scanned")
        outcome.skipped = [s.participant for s in specs if s not in todo]
        if outcome.skipped:
            say(f"cohort: {len(outcome.skipped)} of {len(specs)} recordings already finished; skipped")
        closing = _run_tasks(todo, out, options, stamps, outcome, clock, starting, say, status) \
            if starting else None
    except KeyboardInterrupt:  # while the outputs were scanned or the cluster started
        outcome.interrupted, closing = True, None
        say("cohort: interrupted — run the same command again to continue")
        if starting is not None:
            starting.close_when_started()
    except BaseException:
        if starting is not None:
            starting.close_when_started()
        raise
    try:  # the tables and the report are written while the workers shut down
        _write_failed(out, outcome.failed)
        if not outcome.interrupted:
            write_outputs(specs, out, stamps, outcome.failed, options.valid_min, clock)
    finally:
        if closing is not None:
            closing.join()
            clock.mark("closed", closing.done_at)
    clock.workers(outcome.results)
    clock.mark("end")
    outcome.seconds = clock.marks["end"]
    return outcome


class _Start(threading.Thread):
    """``open_client`` in a thread, so the cluster starts while the outputs are scanned."""

    def __init__(self, options: CohortOptions) -> None:
        super().__init__(name="cohort-start", daemon=True)
        self.options = options
        self.began = time.time()
        self.done_at = 0.0
        self.client: Client | None = None
        self.cluster: LocalCluster | None = None
        self.error: BaseException | None = None
        self.taken = False  # the caller has the client and closes it
        self.start()

    def run(self) -> None:
        o = self.options
        try:
            self.client, self.cluster = open_client(o.scheduler, o.workers, o.memory_limit,
                                                    o.connect_timeout, o.worker_settings)
        except BaseException as exc:  # handed to the caller by ``result``
            self.error = exc
        self.done_at = time.time()

    def result(self) -> tuple[Client, LocalCluster | None]:
        self.join()
        if self.error is not None:
            raise self.error
        assert self.client is not None
        self.taken = True
        return self.client, self.cluster

    def close_when_started(self) -> None:
        self.join()
        if self.client is not None and not self.taken:
            close_client(self.client, self.cluster)


class _Close(threading.Thread):
    """Closes the client and the local cluster while the tables and the report are written."""

    def __init__(self, client: Client, cluster: LocalCluster | None) -> None:
        super().__init__(name="cohort-close")
        self.client, self.cluster = client, cluster
        self.done_at = 0.0
        self.start()

    def run(self) -> None:
        quiet = logging.getLogger("distributed")
        level = quiet.level
        if not quiet.isEnabledFor(logging.INFO):  # a worker slow to exit is killed: not news
            quiet.setLevel(logging.ERROR)
        try:
            close_client(self.client, self.cluster)
        finally:
            quiet.setLevel(level)
            self.done_at = time.time()


def _run_tasks(todo: list[RecordingSpec], out: Path, options: CohortOptions,
               stamps: dict[str, dict[str, str]], outcome: CohortOutcome, clock: Clock,
               starting: _Start, say: Callable[[str], None],
               status: Callable[[str], None] | None) -> _Close:
    """Run the tasks; returns the started thread that closes the client and the local cluster
    (already joined after an interruption)."""
    client, cluster = starting.result()
    clock.mark("cluster_began", starting.began)
    clock.mark("cluster_up", starting.done_at)
    clock.mark("started")  # when this thread had the client (after the scan, and the start)
    if cluster is not None and (launched := workerserver.launched_at()) is not None:
        clock.mark("worker_server", launched)
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
        clock.mark("submitted")
        threading.Thread(target=_import_report, name="cohort-report-import").start()
        pending, shown = set(futures), time.monotonic()
        while pending:
            try:
                finished_now, pending = wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                finished_now = set()
            for fut in finished_now:
                _record(_result_of(fut, futures[fut]), futures[fut], outcome, progress, say)
            if status is not None and pending and time.monotonic() - shown >= STATUS_EVERY:
                status(progress.status(_running(client, keys)))  # one call to the scheduler
                shown = time.monotonic()
    except KeyboardInterrupt:
        outcome.interrupted = True
        logging.getLogger("distributed").setLevel(logging.ERROR)  # cancelled tasks are not news
        say("cohort: interrupted; cancelling — run the same command again to continue")
        with contextlib.suppress(Exception):
            client.cancel(list(futures))
    finally:
        clock.mark("tasks_done")
        closing = _Close(client, cluster)
        if outcome.interrupted:
            closing.join()
    return closing


def _import_report() -> None:
    """The report's plotting library, imported while the tasks run instead of after them."""
    import posturewatch.cohort.report  # noqa: F401


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
                  failed: list[dict[str, str]], valid_min: float,
                  clock: Clock | None = None) -> list[Path]:
    """Cohort tables (CSV + Parquet) and report from every finished participant's done.json."""
    from posturewatch.cohort.report import write_report  # usually imported during the tasks

    days = {}
    for spec in specs:
        done = finished(out / spec.participant, stamps[spec.participant])
        if done is not None:
            days[spec.participant] = done.get("days", [])
    day_rows = days_table(days)
    people = participants_table(day_rows, list(days), valid_min)
    paths = write_table(day_rows, out, DAYS) + write_table(people, out, PARTICIPANTS)
    if clock is not None:
        clock.mark("tables")
    paths += list(write_report(people, failed, out, valid_min))
    if clock is not None:
        clock.mark("report")
    return paths
