"""One recording on a worker: replay it into a temporary folder, then publish it atomically.

``replay_one`` is the only place that calls the replay, and it calls the streaming replay that
``posturewatch replay`` runs (``replay_file`` for a combined CSV, ``replay_to_folder`` for
per-location files), so a participant's week runs in bounded memory on a worker and its files
are the ones ``replay`` writes. ``run_recording`` wraps it for the cohort:
the results go into ``<out>/.tmp-<participant>-<random>/`` with a ``done.json`` (the stamp of
config hash, input hash and posturewatch version that made them, the summary and the per-day
figures), and the folder is then renamed to ``<out>/<participant>``. A folder with a
``done.json`` whose stamp matches is finished; anything else (a missing or different stamp, a
temporary folder left by a killed run) is redone.

Bad input (a ``RecordingError`` or ``ConfigError``) comes back as a ``failed`` summary at once:
retrying cannot fix a file. Anything else is raised, so the scheduler retries the task (a worker
that ran out of memory or died, a full disk) a limited number of times.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import socket
import sys
import time
import uuid
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from posturewatch.cohort.daily import daily_figures
from posturewatch.cohort.manifest import RecordingSpec
from posturewatch.ingest.locationfiles import read_location_files
from posturewatch.ingest.recording import RecordingError
from posturewatch.runtime.config import Config, ConfigError
from posturewatch.runtime.replay import replay_file, replay_to_folder

DONE = "done.json"
TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"


def package_version() -> str:
    try:
        return version("posturewatch")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stamp(spec: RecordingSpec) -> dict[str, str]:
    """What made a result: the analysis settings, the input files (name, size, modification
    time) and the posturewatch version. A result with another stamp is redone."""
    analysis = {"settings": spec.settings, "tz": spec.tz, "acc_unit": spec.acc_unit,
                "gyro_unit": spec.gyro_unit, "time_unit": spec.time_unit, "align": spec.align,
                "layout": "combined" if spec.combined else sorted(spec.files)}
    inputs = []
    for p in spec.inputs():
        st = p.stat()
        inputs.append([p.name, st.st_size, st.st_mtime_ns])
    return {"config_hash": _digest(analysis), "inputs_hash": _digest(inputs), "version": package_version()}


def finished(folder: Path, want: dict[str, str]) -> dict[str, Any] | None:
    """The done.json of a finished result with this stamp, else None."""
    try:
        done = json.loads((folder / DONE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(done, dict) or any(done.get(k) != v for k, v in want.items()):
        return None
    return done


def replay_one(spec: RecordingSpec, out_dir: Path, config: Config) -> dict[str, Any]:
    """What `posturewatch replay FILES --out OUT_DIR` does; returns a small summary.

    A combined CSV is streamed in two passes (``replay_file``), so a week of samples never sits
    in a worker's memory; per-location files are read whole by their decoders and streamed from
    memory (``replay_to_folder``), as ``replay`` does with them."""
    if spec.files:
        rec = read_location_files(spec.files, spec.time_unit, spec.tz, spec.acc_unit,
                                  spec.gyro_unit or "auto")
        run = replay_to_folder(rec.blocks, out_dir, config, None, spec.align, read=rec.report)
        del rec  # the decoded blocks are not needed while the summary is written
    else:
        run = replay_file(spec.combined, out_dir, config, spec.acc_unit, spec.gyro_unit or "rad/s",
                          align=spec.align, time_unit=spec.time_unit, tz=spec.tz)
    if not run.tally.seconds:
        raise RecordingError("no samples could be analysed")
    return {
        "rows": run.read.rows,
        "samples": dict(run.read.samples),
        "hours": run.tally.seconds / 3600.0,
        "episodes": sum(run.tally.episodes.values()),
        "alerts": run.tally.alerts,
        "bad": {k: int(v) for k, v in run.read.bad.items() if v},
        "notes": list(run.notes),
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (a worker's peak over its tasks)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished folder into place; an older result is moved aside first."""
    old = None
    if final.exists():
        old = final.with_name(f"{OLD_PREFIX}{final.name}-{uuid.uuid4().hex[:8]}")
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def worker_moments() -> dict[str, float | None]:
    """When the worker server forked this worker and when Dask had it ready (``time.time()``;
    None where unknown: a spawned worker, a remote one without our preload)."""
    env = sys.modules.get("posturewatch.cohort.workerenv")  # not imported here: it sets variables
    return {"worker_born": getattr(env, "BORN_AT", None), "worker_ready": getattr(env, "READY_AT", None)}


def run_recording(spec: RecordingSpec, out_root: str, want: dict[str, str]) -> dict[str, Any]:
    """Replay one participant's recording into ``out_root/participant`` (see the module docstring)."""
    began = time.time()
    t0, cpu0, own0 = time.perf_counter(), time.process_time(), time.thread_time()
    root = Path(out_root)
    tmp = root / f"{TMP_PREFIX}{spec.participant}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    where = {"participant": spec.participant, "worker": f"{socket.gethostname()}:{os.getpid()}"}
    moments = {"began": began, **worker_moments()}  # for the run's timeline, not for done.json
    try:
        summary = replay_one(spec, tmp, spec.config())
        days = daily_figures(tmp, spec.tz or "UTC")
        seconds = time.perf_counter() - t0
        done = {**want, **where, "finished": datetime.now(UTC).isoformat(),
                "seconds": seconds, "summary": summary, "days": days}
        (tmp / DONE).write_text(json.dumps(done, indent=1))
        _publish(tmp, root / spec.participant)
    except (RecordingError, ConfigError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        return {**where, **moments, "status": "failed", "error": str(exc),
                "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb(), "ended": time.time()}
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**where, **moments, "status": "done", "seconds": seconds,
            "cpu_seconds": time.thread_time() - own0, "process_cpu_seconds": time.process_time() - cpu0,
            "peak_rss_mb": peak_rss_mb(), "hours": summary["hours"],
            "worker_cpu_seconds": time.process_time(), "ended": time.time()}
