"""The local cluster's workers start with the settings this pipeline needs, not Dask's defaults:
forked from the worker server that imported the pipeline (not spawned and importing it again),
one thread in every numeric library's pool, no fixed malloc trim threshold, no statistical
profiler, and the slow event-loop housekeeping intervals."""

from __future__ import annotations

import os
import sys

import dask
import psutil
import pytest

from posturewatch.cohort import workerserver
from posturewatch.cohort.cluster import close_client, open_client

pytestmark = pytest.mark.slow


def _worker_state() -> dict:
    import pyarrow
    from threadpoolctl import threadpool_info

    from posturewatch.cohort import workerenv

    parent = psutil.Process().parent()
    return {
        "env": {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS",
                                                "OPENBLAS_NUM_THREADS")},
        "pools": sorted({(p["internal_api"], p["num_threads"]) for p in threadpool_info()}),
        "arrow_threads": pyarrow.cpu_count(),
        "parent": parent.pid if parent else None,
        "profiling": dask.config.get("distributed.worker.profile.enabled"),
        "tick": dask.config.get("distributed.admin.tick.interval"),
        "preloaded": "posturewatch.cohort.task" in sys.modules,
        "ready": workerenv.READY_AT is not None,
    }


def test_local_workers_get_the_pipelines_settings():
    client, cluster = open_client(None, 2, memory_limit=1024**3)
    try:
        states = list(client.run(_worker_state).values())
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
    finally:
        close_client(client, cluster)
    assert len(states) == 2
    server = psutil.Process(os.getpid()).children()
    for state in states:
        assert state["env"] == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1",
                                "OPENBLAS_NUM_THREADS": "1"}
        assert state["pools"] and all(threads == 1 for _, threads in state["pools"]), state["pools"]
        assert state["arrow_threads"] == 1
        assert state["profiling"] is False and state["tick"] == "1s"
        assert state["preloaded"] and state["ready"]
        if workerserver.available():  # forked by the worker server, a child of this process
            assert state["parent"] != os.getpid()
            assert state["parent"] in {p.pid for p in server}
    assert limits == [1024**3] * 2
