"""A run's breakdown shows the steps whose two moments it has, in the order they happen."""

from __future__ import annotations

import pytest

from posturewatch.cohort.timeline import Clock, breakdown


def test_a_breakdown_has_the_steps_whose_moments_the_run_has():
    marks = {"scanned": 0.5, "cluster_began": 0.1, "cluster_up": 0.9, "started": 0.9, "submitted": 1.0,
             "tasks_done": 11.0, "tables": 11.2, "report": 11.7, "end": 11.8}
    rows = dict(breakdown(marks))
    assert rows["scan the outputs for finished results"] == pytest.approx(0.5)
    assert rows["cluster start (beside the scan)"] == pytest.approx(0.8)
    assert rows["waited for the cluster after the scan"] == pytest.approx(0.4)
    assert rows["tasks (submit to last result)"] == pytest.approx(10.0)
    assert rows["cohort report (PNG + HTML)"] == pytest.approx(0.5)
    assert rows["after the last result, until the end"] == pytest.approx(0.8)
    assert "cluster close (beside tables and report)" not in rows  # no "closed": a remote scheduler
    assert list(rows)[-1] == "whole run"


def test_the_workers_moments_come_from_the_task_results():
    clock = Clock()
    t0 = clock.t0
    clock.workers([{"worker_born": t0 + 0.3, "worker_ready": t0 + 0.4, "began": t0 + 0.5, "ended": t0 + 5},
                   {"worker_born": t0 + 0.2, "worker_ready": t0 + 0.6, "began": t0 + 0.7, "ended": t0 + 4},
                   {"status": "failed"}])  # a result without moments (an older worker) is left out
    m = clock.marks
    assert (m["worker_born"], m["worker_ready_last"], m["first_task"], m["last_task_end"]) == \
        pytest.approx((0.2, 0.6, 0.5, 5.0))
