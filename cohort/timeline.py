"""Where a cohort run's time went: named moments on the cohort's side, the workers' own moments
from the task results, and the durations between them.

The moments are seconds since the run began (``run_cohort`` was called); the worker server may
have been launched before that (the command starts it before it reads the manifest), which shows
as a negative moment. Workers report wall-clock times, so on a remote cluster with skewed clocks
the worker-side figures are only as good as the clocks.
"""

from __future__ import annotations

import time
from typing import Any


class Clock:
    """Named moments of a run, in seconds since it began."""

    def __init__(self) -> None:
        self.t0 = time.time()
        self.marks: dict[str, float] = {}

    def mark(self, name: str, at: float | None = None) -> None:
        self.marks[name] = (at if at is not None else time.time()) - self.t0

    def workers(self, results: list[dict[str, Any]]) -> None:
        """The moments the tasks reported: workers born and ready, first and last task."""
        done = [r for r in results if "began" in r]
        if not done:
            return
        for name, key, pick in (("worker_born", "worker_born", min), ("worker_born_last", "worker_born", max),
                                ("worker_ready_last", "worker_ready", max),
                                ("first_task", "began", min), ("last_task_end", "ended", max)):
            values = [r[key] for r in done if r.get(key) is not None]
            if values:
                self.mark(name, pick(values))


STEPS = [  # label, from, to: the durations a breakdown shows, in the order they happen
    ("scan the outputs for finished results", None, "scanned"),
    ("worker server launched (before the run: <0)", None, "worker_server"),
    ("cluster start (beside the scan)", "cluster_began", "cluster_up"),
    ("  of it: until the first worker was forked", "cluster_began", "worker_born"),
    ("  of it: workers forked until all ready", "worker_born", "worker_ready_last"),
    ("waited for the cluster after the scan", "scanned", "started"),
    ("dashboard and submit", "started", "submitted"),
    ("submit until the first task ran", "submitted", "first_task"),
    ("tasks (submit to last result)", "submitted", "tasks_done"),
    ("  of it: last task's end to its result here", "last_task_end", "tasks_done"),
    ("cohort tables (CSV + Parquet)", "tasks_done", "tables"),
    ("cohort report (PNG + HTML)", "tables", "report"),
    ("cluster close (beside tables and report)", "tasks_done", "closed"),
    ("after the last result, until the end", "tasks_done", "end"),
    ("whole run", None, "end"),
]


def breakdown(marks: dict[str, float]) -> list[tuple[str, float]]:
    """(label, seconds) for every step whose two moments this run has."""
    rows = []
    for label, start, end in STEPS:
        if end in marks and (start is None or start in marks):
            rows.append((label, marks[end] - (marks[start] if start else 0.0)))
    return rows
