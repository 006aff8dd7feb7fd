"""A broker that cannot be reached is said: in the log (once), in the status and the status line,
while the outbox keeps what was accepted."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from servers import free_port

from posturewatch.app.cmd_run import status_line
from posturewatch.runtime.config import from_mapping
from posturewatch.runtime.daemon import daemon_session
from posturewatch.simulators.devices.backend import EmulatedBackend, emulate_config

SENSORS = [{"location": "pelvis", "family": "pwrp", "address": "AA:00:00:00:00:01"},
           {"location": "thigh", "family": "movesense", "address": "AA:00:00:00:00:02"}]


@pytest.mark.slow
@pytest.mark.asyncio
async def test_nothing_listening_is_reported_as_down(tmp_path, caplog):
    port = free_port()  # nothing listens here
    config = from_mapping({"user": "downtest", "sensors": SENSORS,
                           "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.5,
                                    "reconnect_max_s": 1.0},
                           "store": {"dir": str(tmp_path / "state")}})
    session = daemon_session(config, EmulatedBackend(emulate_config(config.ble, time.time, seed=1)))
    seen: list[dict] = []

    async def watch() -> None:
        while True:
            await asyncio.sleep(0.5)
            if session.monitor is not None:
                seen.append(session.status())

    caplog.set_level(logging.WARNING)
    watcher = asyncio.create_task(watch())
    await session.run(duration_s=20.0)  # past the 15 s posture delay: frames queue up
    watcher.cancel()
    states = [s["mqtt"] for s in seen]
    assert "down" in states, states
    last = seen[-1]
    assert last["outbox"] > 0, "accepted data waits in the outbox"
    assert "mqtt down" in status_line(last) and f"outbox {last['outbox']}" in status_line(last)
    warnings = [r.getMessage() for r in caplog.records if "MQTT broker" in r.getMessage()]
    assert len(warnings) == 1, warnings  # said once per outage, not on every retry
    assert f"127.0.0.1:{port}" in warnings[0]
