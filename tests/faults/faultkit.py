"""Helpers of the fault suite: the daemon child as a process, alert ids read back, durations.

Durations are parameters: short by default (CI), longer through ``POSTUREWATCH_FAULT_SCALE``
(a bench run sets e.g. 10 to hold every outage ten times as long).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

CHILD = Path(__file__).with_name("daemon_child.py")
DAY_START = 1767600000.0  # the simulator's default start, 2026-01-05 08:00 UTC


def scale() -> float:
    return float(os.environ.get("POSTUREWATCH_FAULT_SCALE", "1"))


def run_daemon(port: int, state: Path, user: str, epoch: float, until: float, *extra: str,
               hours: float = 1.0, timeout: float = 1800.0) -> subprocess.CompletedProcess:
    """The daemon child from ``epoch`` to ``until`` (offsets from DAY_START), to its end."""
    cmd = [sys.executable, str(CHILD), "--mqtt-port", str(port), "--state", str(state),
           "--user", user, "--day-start", str(DAY_START), "--hours", str(hours),
           "--epoch", str(DAY_START + epoch), "--until", str(DAY_START + until), "--alerty", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def summary(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def duplicates(ids: list[str]) -> dict[str, int]:
    return {i: n for i, n in Counter(ids).items() if n > 1}


def phone_copies(phone, topic: str) -> dict[str, int]:
    """What a subscriber (``servers.MqttCollector``) got on ``topic``, by alert id: distinct ids,
    extra copies the broker had accepted twice from the publisher (DUP clear when they reach the
    subscriber) and extra copies the broker sent again itself (DUP set: after a restart it
    redelivers what its persistence file still lists as unacknowledged)."""
    seen = [(json.loads(p)["id"], dup) for (t, p, _), dup in zip(phone.messages, phone.dup_flags, strict=True)
            if t == topic]
    ids = {i for i, _ in seen}
    redelivered = sum(dup for _, dup in seen)
    return {"ids": len(ids), "published twice": len(seen) - len(ids) - redelivered,
            "redelivered by the broker": redelivered}


def alert_ids(collector, user: str) -> list[str]:
    return [a["id"] for a in collector.json_on(f"posturewatch/{user}/alerts")]


def sigkill(server) -> None:
    """SIGKILL a private server (a crash: no clean shutdown) and wait until its port is free."""
    os.kill(server.pid, signal.SIGKILL)
    server._proc.wait(10)
    server.stop()  # reaps the dead process and waits for the port to be free
