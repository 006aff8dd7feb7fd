"""Outbox → InfluxDB through a real VictoriaMetrics: read-back, outage bridging, bad batches."""

from __future__ import annotations

import http.server
import sqlite3
import threading
import time
import uuid

import numpy as np
import pytest

from posturewatch.analytics.records import Episode, Posture
from posturewatch.store.influx import InfluxSettings, InfluxWriter, WriteError
from posturewatch.store.lines import angle_lines, episode_line
from posturewatch.store.outbox import Outbox
from posturewatch.store.pumps import InfluxPump
from posturewatch.store.rollup import per_second

T0 = 1_709_553_600.0
OUTAGE_S = 2.0  # stands in for a two-minute database outage


def seconds(n: int, t0: float):
    t = t0 + np.arange(n * 10) / 10.0
    return per_second(
        t, {"pelvic_tilt": -5 - (t - t0) / 100}, np.full(len(t), int(Posture.SITTING))
    )


def values_by_ts(server, match: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for series in server.export(match):
        for ts, v in zip(series["timestamps"], series["values"], strict=True):
            assert ts not in out, f"duplicate sample at {ts}"
            out[ts] = v
    return out


def test_pump_writes_angles_and_episodes_that_read_back(victoria, tmp_path):
    user = f"u{uuid.uuid4().hex[:8]}"
    box = Outbox(tmp_path / "o.db")
    writer = InfluxWriter(InfluxSettings(url=victoria.url))
    pump = InfluxPump(box, writer)
    pump.start()
    try:
        secs = seconds(30, T0)
        box.put("influx", "\n".join(angle_lines(user, secs)))
        ended = Episode("posterior_tilt", T0, T0 + 60, T0 + 95, -21, -18)
        box.put("influx", episode_line(user, ended))
        box.put("influx", episode_line(user, ended))  # a replay
        assert pump.wait_drained(20)
    finally:
        pump.stop()
        writer.close()
    got = values_by_ts(victoria, f'{{__name__="angles_pelvic_tilt",user="{user}"}}')
    expected = {int(t) * 1000: v for t, v in zip(secs.t, secs.angles["pelvic_tilt"], strict=True)}
    assert got.keys() == expected.keys()
    assert np.allclose([got[k] for k in expected], list(expected.values()), atol=1e-3)
    codes = values_by_ts(victoria, f'{{__name__="angles_posture_code",user="{user}"}}')
    assert set(codes.values()) == {int(Posture.SITTING)}
    # the replay overwrote: one episode row
    durations = values_by_ts(victoria, f'{{__name__="episodes_duration_s",user="{user}"}}')
    assert durations == {int(T0 * 1000): 95.0}


def test_database_outage_is_bridged_without_loss_or_duplicates(victoria_factory, tmp_path):
    server = victoria_factory()
    user = "outage"
    box = Outbox(tmp_path / "o.db")
    writer = InfluxWriter(InfluxSettings(url=server.url, timeout_s=2))
    pump = InfluxPump(box, writer, backoff_min_s=0.1, backoff_max_s=0.5)
    pump.start()
    try:
        for i in range(3):
            box.put("influx", "\n".join(angle_lines(user, seconds(10, T0 + 10 * i))))
        assert pump.wait_drained(20)
        server.stop()
        for i in range(3, 8):  # accepted while the database is down
            box.put("influx", "\n".join(angle_lines(user, seconds(10, T0 + 10 * i))))
        time.sleep(OUTAGE_S)
        assert box.pending("influx") == 5 and pump.failures > 0
        server.start()
        assert pump.wait_drained(30), pump.last_error
    finally:
        pump.stop()
        writer.close()
    got = values_by_ts(server, f'{{__name__="angles_pelvic_tilt",user="{user}"}}')
    assert sorted(got) == [int(T0 + i) * 1000 for i in range(80)]


class _RejectingHandler(http.server.BaseHTTPRequestHandler):
    """Refuses (400) any write holding "bad"; records the lines of every write it accepts."""

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 400 if b"bad" in body else 204
        if status == 204:
            self.server.accepted_lines.extend(body.decode().split("\n"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if status == 400:
            self.wfile.write(b'{"code":"invalid","message":"unable to parse"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def rejecting_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RejectingHandler)
    server.accepted_lines = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_writer_classifies_failures(rejecting_server):
    writer = InfluxWriter(InfluxSettings(url=rejecting_server.url))
    writer.write(["m,user=u v=1 1"])
    assert rejecting_server.accepted_lines == ["m,user=u v=1 1"]
    with pytest.raises(WriteError) as rejected:
        writer.write(["bad line"])
    assert not rejected.value.transient and "400" in str(rejected.value)
    down = InfluxWriter(InfluxSettings(url="http://127.0.0.1:9", timeout_s=1))
    with pytest.raises(WriteError) as unreachable:
        down.write(["m,user=u v=1 1"])
    assert unreachable.value.transient


def test_a_rejected_item_is_dead_lettered_and_the_rest_still_flows(rejecting_server, tmp_path):
    box = Outbox(tmp_path / "o.db")
    good = [f"m,user=u v={i} {i}" for i in range(3)]
    for line in good:
        box.put("influx", line)
    bad = box.put("influx", "bad")
    later = "m,user=u v=9 9"
    box.put("influx", later)
    writer = InfluxWriter(InfluxSettings(url=rejecting_server.url))
    pump = InfluxPump(box, writer)
    pump.start()
    try:
        assert pump.wait_drained(20)
    finally:
        pump.stop()
        writer.close()
    # the server took every good line (those before the bad item and the one after it) ...
    assert sorted(set(rejecting_server.accepted_lines)) == sorted([*good, later])
    assert "bad" not in rejecting_server.accepted_lines
    # ... and exactly the bad item waits in the dead-letter table, with the server's reason
    with sqlite3.connect(box.path) as db:
        dead = db.execute("SELECT seq, payload, reason FROM dead").fetchall()
    assert [(seq, bytes(payload)) for seq, payload, _ in dead] == [(bad, b"bad")]
    assert "400" in dead[0][2] and box.dead_count("influx") == 1
