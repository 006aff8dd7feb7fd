"""The outbox's disk fills up mid-stream: nothing crashes, nothing accepted is lost or doubled.

The outbox lives on a 2 MB tmpfs made by the test (as root: ``mount -t tmpfs``; removed at the
end). An alert stream goes through it and its MQTT pump to a private Mosquitto while a filler
file takes the last free byte. The puts that cannot be written are counted (``disk_full``) and
held in memory; when the filler is removed they are written ahead of the next put. Every alert
reaches the wearer's topic exactly once, in order, and the outbox ends empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess

import pytest
from faultkit import duplicates, scale
from servers import MqttCollector, wait_until

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings
from posturewatch.store.outbox import EVENT, Outbox
from posturewatch.store.pumps import MqttPump

TOPIC = "posturewatch/diskfull/alerts"
MAX_TO_FILL = 20_000  # 12 MB of alerts: far more than the 2 MB file system holds


@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the disk-full test mounts a tmpfs: run it as root", pytrace=False)
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "fs"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(where) -> None:
    """Take every free byte (appending: space the outbox frees later is taken again)."""
    with contextlib.suppress(OSError), open(where / "filler", "ab") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()


def test_disk_full_is_counted_and_nothing_is_lost(small_fs, mosquitto):
    n = int(300 * scale())
    outbox = Outbox(small_fs / "outbox.db", synchronous="NORMAL")
    link = MqttLink(MqttSettings(host=mosquitto.host, port=mosquitto.port))
    pump = MqttPump(outbox, link)
    with MqttCollector(mosquitto.host, mosquitto.port, [TOPIC]) as collector:
        assert link.start(wait_s=10)
        pump.start()
        try:
            def put(i: int) -> None:
                body = json.dumps({"id": f"alert-{i}", "pad": "x" * 500})
                outbox.put("mqtt", body, meta={"topic": TOPIC, "qos": 1, "retain": False},
                           priority=EVENT)

            for i in range(n // 3):
                put(i)
            # The outbox gives back space of its own when the disk fills (it truncates its
            # WAL, and delivered rows leave free pages), so the filler takes that too until a
            # write is refused; then a third of the stream goes in while the disk stays full.
            i = n // 3
            while outbox.disk_full == 0 and i < MAX_TO_FILL:
                _fill(small_fs)
                put(i)  # must not raise
                i += 1
            for j in range(i, i + n // 3):
                put(j)
            full_writes, held = outbox.disk_full, outbox.held
            (small_fs / "filler").unlink()
            start, n = i + n // 3, i + 2 * (n // 3)
            for j in range(start, n):
                put(j)
            drained = pump.wait_drained(60)
            files = {f.name: f.stat().st_size for f in small_fs.iterdir()}
            assert drained, f"held {outbox.held} pending {outbox.pending()} files {files}"
            wait_until(lambda: len(collector.json_on(TOPIC)) >= n, 30, "every alert on the topic")
        finally:
            pump.stop()
            link.stop()
        ids = [m["id"] for m in collector.json_on(TOPIC)]
    print(f"{n} alerts; {full_writes} writes refused for want of space, {held} held in memory")
    assert full_writes > 0 and held > 0, "the filler should have filled the disk"
    assert not duplicates(ids)
    assert ids == [f"alert-{i}" for i in range(n)]
    assert outbox.pending() == 0 and outbox.held == 0 and not outbox.dropped
    outbox.close()
