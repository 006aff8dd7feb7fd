"""The process local workers are forked from: started early, with the pipeline already imported.

Starting a Dask worker the default way (``spawn``) starts a new interpreter that imports Dask and
the whole pipeline (numpy, scipy, pyarrow, VQF: about 2 s of CPU each) before it takes a task, and
on a 2-core machine two workers doing that at once also compete with the scheduler starting
beside them. Instead the local cluster uses multiprocessing's ``forkserver``: one fresh,
single-threaded server process imports ``workerenv`` (one numeric thread per worker), Dask and the
task's modules once, and every worker is a fork of it, ready in milliseconds. Forking is safe
there because the server runs no threads (forking the cohort's own process, which runs the
scheduler's event loop in a thread, is not). Forked workers also end without the interpreter's
slow module teardown, so the cluster closes quicker too.

``start`` launches that server and returns at once; its imports run beside whatever the caller
does next (the command checks the manifest and scans the outputs meanwhile). It is idempotent:
the server lives as long as this process and serves every local cluster it starts. On platforms
without ``forkserver`` (Windows) the workers are spawned as Dask does by default.

This module imports nothing heavy, so the command can call it before its own imports.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import threading
import time

PRELOAD = ["posturewatch.cohort.workerenv", "distributed", "posturewatch.cohort.task"]
METHOD = "forkserver"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
NUMERIC_THREADS = "1"  # per worker: see workerenv.py

_lock = threading.Lock()
_started_at: float | None = None


def available() -> bool:
    return METHOD in multiprocessing.get_all_start_methods()


def start() -> float | None:
    """Launch the worker server if it is not running yet; returns when it was first launched
    (``time.time()``), or None where workers are spawned instead."""
    global _started_at
    if not available():
        return None
    with _lock:
        if _started_at is None:
            from multiprocessing import forkserver

            multiprocessing.set_forkserver_preload(PRELOAD)
            forkserver.ensure_running()
            _started_at = time.time()
            atexit.register(_stop)
        return _started_at


def _stop() -> None:
    """At this process's exit: the server has nothing to save, so it is ended at once instead of
    tearing down its imported modules for a second after we are gone (while it holds our standard
    output open, so `posturewatch cohort … | tee log` would wait for it)."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # our child: not reused yet
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)


def launched_at() -> float | None:
    """When ``start`` launched the server (``time.time()``); None before that."""
    return _started_at
