"""Where a cohort's tasks run: a local cluster set up for this pipeline, or an existing scheduler.

The local cluster has ``workers`` processes with one thread each (the pipeline is CPU-bound numpy
and VQF code that holds the GIL in places, so threads in one process would queue for it) behind
Dask's nannies, which restart a worker that goes over its ``memory_limit``. Its workers differ from
Dask's defaults where those cost this pipeline time (measured with ``bench/cohort.py``):

- they are forked from a server process that imported the pipeline once (``workerserver.py``)
  instead of each starting an interpreter and importing it again: ready in milliseconds, not
  seconds, and quick to exit;
- no ``MALLOC_TRIM_THRESHOLD_``: a fixed trim threshold turns off glibc's adaptive mmap threshold,
  so every large numpy temporary is mapped and unmapped again (with the profiler below, 10–30 %
  more CPU a recording);
- one thread per numeric library (OpenMP, OpenBLAS, MKL, and Arrow's pool, which reads
  ``OMP_NUM_THREADS``; ``workerenv.py``): one worker per core, so two workers on two cores never
  run four busy threads;
- no statistical profiler: Dask samples every thread's stack every 10 ms by default, taking the
  GIL from the replay each time (about 5 % more CPU);
- the event loops' health check, the system monitor and the memory polls (of the nannies and the
  workers) wake up every 1 s, 2 s and 0.5 s instead of every 20 ms, 500 ms and 100 ms: each
  wake-up takes the GIL from the task, and the samples only feed the dashboard, which nobody needs
  at that resolution for tasks of minutes. An idle 2-worker cluster then costs about 2 % of a core
  instead of about 10 % (``bench/cohort.py``). A worker that outgrows its memory limit is stopped
  up to 0.5 s later; the streaming replay's memory grows far slower than that.
"""

from __future__ import annotations

import contextlib
import logging
import os

import dask
import psutil
from distributed import Client, LocalCluster

from posturewatch.cohort import workerserver
from posturewatch.cohort.workerserver import NUMERIC_THREADS, THREAD_VARIABLES

MAX_WORKER_MEMORY = 4 * 1024**3
TASK_MODULE = "posturewatch.cohort.task"
ENV_MODULE = "posturewatch.cohort.workerenv"
CLOSE_TIMEOUT = 10.0  # seconds; a worker still running then is killed by its nanny


class CohortError(RuntimeError):
    """The cluster cannot be started or reached."""


def usable_cores() -> int:
    """The cores this process may run on (a container's or a job's share, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_memory_limit(workers: int) -> int:
    """The machine's memory split between the workers, at most 4 GiB each."""
    return int(min(psutil.virtual_memory().total / max(workers, 1), MAX_WORKER_MEMORY))


def worker_settings(workers: int) -> dict[str, object]:
    """The Dask configuration the local workers start with (see the module docstring)."""
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    env["MALLOC_TRIM_THRESHOLD_"] = None  # None: the nanny leaves the variable out
    env.update({name: NUMERIC_THREADS for name in THREAD_VARIABLES})  # for spawned workers
    settings: dict[str, object] = {
        "distributed.nanny.pre-spawn-environ": env,
        "distributed.worker.profile.enabled": False,
        "distributed.worker.preload": [ENV_MODULE, TASK_MODULE],
        "distributed.admin.tick.interval": "1s",
        "distributed.admin.system-monitor.interval": "2s",
        "distributed.worker.memory.monitor-interval": "500ms",
    }
    if workerserver.available():
        settings["distributed.worker.multiprocessing-method"] = workerserver.METHOD
    return settings


def open_client(scheduler: str | None, workers: int, memory_limit: int | None = None,
                connect_timeout: float = 30.0,
                settings: dict[str, object] | None = None) -> tuple[Client, LocalCluster | None]:
    """A client of ``scheduler``, or of a new local cluster of ``workers`` processes with
    ``settings`` (default: ``worker_settings``); a ``CohortError`` says why not."""
    if not logging.getLogger().isEnabledFor(logging.INFO):
        # the scheduler runs in this process: its start-up chatter only with -v
        logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler:
        try:
            return Client(scheduler, timeout=connect_timeout), None
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CohortError(f"cannot reach the Dask scheduler {scheduler} within "
                              f"{connect_timeout:g} s: {why}") from None
    settings = worker_settings(workers) if settings is None else settings
    if settings.get("distributed.worker.multiprocessing-method") == workerserver.METHOD:
        workerserver.start()  # already running when the command started it early
    try:
        with dask.config.set(settings):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   memory_limit=memory_limit or worker_memory_limit(workers),
                                   dashboard_address=":0")
    except (OSError, RuntimeError, TimeoutError) as exc:
        raise CohortError(f"cannot start {workers} local Dask workers: {exc}") from None
    return Client(cluster), cluster


def close_client(client: Client, cluster: LocalCluster | None, timeout: float = CLOSE_TIMEOUT) -> None:
    """Close the client and the local cluster, each within ``timeout`` seconds."""
    with contextlib.suppress(Exception):
        client.close(timeout=timeout)
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close(timeout=timeout)


def dashboard_of(client: Client) -> str | None:
    """The dashboard address, when the scheduler serves one (it needs bokeh)."""
    with contextlib.suppress(Exception):
        if "dashboard" in client.scheduler_info().get("services", {}):
            return client.dashboard_link
    return None
