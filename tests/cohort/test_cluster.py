"""The local cluster's workers start with the settings this pipeline needs, not Dask's defaults:
no fixed malloc trim threshold, the numeric libraries' threads sharing the cores between the
workers, no statistical profiler, and the task's modules already imported."""

from __future__ import annotations

import os
import sys

import dask
import pytest

from posturewatch.cohort.cluster import open_client, usable_cores

pytestmark = pytest.mark.slow


def test_local_workers_get_the_pipelines_settings():
    client, cluster = open_client(None, 2, memory_limit=1024**3)
    try:
        env = client.run(lambda: {k: os.environ.get(k) for k in
                                  ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
        profiling = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
        preloaded = client.run(lambda: "posturewatch.cohort.task" in sys.modules)
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
    finally:
        client.close()
        cluster.close()
    threads = str(max(1, usable_cores() // 2))
    assert list(env.values()) == [{"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": threads,
                                   "OPENBLAS_NUM_THREADS": threads}] * 2
    assert list(profiling.values()) == [False, False]
    assert list(preloaded.values()) == [True, True]
    assert limits == [1024**3] * 2
