"""The first module a local worker's process imports: one thread per numeric library, and when
the worker became ready.

Local workers are forked from a server process that imported the pipeline once
(``workerserver.py``); this module is the first of its imports, so the thread-count variables
below are in place before numpy loads OpenBLAS and before Arrow sizes its CPU pool. One thread
each: a cohort runs one worker per core, so any library thread beyond the task's own would
compete with the other workers (and the pipeline gains nothing from them: measured with
``bench/cohort.py``). A variable already set in the environment is left as it is.

It also notes when a worker was forked, and Dask, which imports it as a worker preload too, calls
``dask_setup``, which notes when the worker was ready to take tasks; the task reports both so a
run can say where its start-up time went.
"""

from __future__ import annotations

import os
import time

from posturewatch.cohort.workerserver import NUMERIC_THREADS, THREAD_VARIABLES

for _name in THREAD_VARIABLES:
    os.environ.setdefault(_name, NUMERIC_THREADS)

IMPORTED_AT = time.time()  # in the server: when its imports began (forked workers inherit it)
BORN_AT: float | None = None  # in a forked worker: when it was forked
READY_AT: float | None = None  # in a worker: when Dask ran its preloads


def _forked() -> None:
    global BORN_AT
    BORN_AT = time.time()


os.register_at_fork(after_in_child=_forked)


def dask_setup(worker: object) -> None:
    """Dask's preload hook, run in the worker process as it starts."""
    global READY_AT
    READY_AT = time.time()
