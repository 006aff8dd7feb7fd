"""A simulated hour through the live path on real servers, scored against the simulator's truth.

Simulator → Monitor (pipeline + alert policy) → OutputHub → durable outbox → MQTT pump to a private
Mosquitto and Influx pump to a private VictoriaMetrics. With cooldown, cap, quiet hours and
posture gating relaxed, every ground-truth episode of an alerting kind must yield exactly one
first alert on the broker, and what the database holds must be what was sent.
"""

from __future__ import annotations

import pytest
from servers import MqttCollector, wait_until

from posturewatch.alerts.monitor import Monitor
from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings
from posturewatch.alerts.settings import AlertSettings
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.wearer import iter_blocks, simulate
from posturewatch.store.hub import OutputHub
from posturewatch.store.influx import InfluxSettings, InfluxWriter
from posturewatch.store.outbox import Outbox
from posturewatch.store.pumps import InfluxPump, MqttPump

pytestmark = pytest.mark.slow  # end to end over minutes of data; `-m 'not slow'` skips it

USER = "livehour"
ALERTING = ("posterior_tilt", "forward_head", "prolonged_sitting")
RELAXED = {
    "daily_cap": 1000,
    "quiet_hours": {"enabled": False},
    "posterior_tilt": {"cooldown_s": 0, "postures": ["sitting", "standing"]},
    "forward_head": {"cooldown_s": 0},
    "prolonged_sitting": {"cooldown_s": 0},
}


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_every_truth_episode_yields_one_alert_and_the_database_holds_what_was_sent(
    tmp_path, mosquitto, victoria
):
    config = WearerConfig(hours=1.0, seed=2)
    truth = simulate(config).truth
    outbox = Outbox(tmp_path / "outbox.db", synchronous="NORMAL")
    monitor = Monitor(alerts=AlertSettings.from_mapping(RELAXED))
    hub = OutputHub(USER, outbox)
    link = MqttLink(MqttSettings(host="127.0.0.1", port=mosquitto.port))
    writer = InfluxWriter(InfluxSettings(url=victoria.url, token="t"))
    pumps = [MqttPump(outbox, link), InfluxPump(outbox, writer)]
    issued, episodes = [], []
    with MqttCollector("127.0.0.1", mosquitto.port, [f"posturewatch/{USER}/alerts"]) as collector:
        assert link.start(wait_s=10)
        for pump in pumps:
            pump.start()
        try:
            for chunk in iter_blocks(config, chunk_s=60.0):
                out = monitor.push(list(chunk.values()))
                issued += hub.process(out)
                episodes += [e.episode for e in out.frames.events if e.type == "end"]
            final = monitor.close()
            issued += hub.process(final)
            episodes += [e.episode for e in final.frames.events if e.type == "end"]
            hub.finish()
            for pump in pumps:
                assert pump.wait_drained(60)
            wait_until(lambda: len(collector.json_on(f"posturewatch/{USER}/alerts")) >= len(issued),
                       timeout=30, what="alerts on the broker")
        finally:
            for pump in pumps:
                pump.stop()
            link.stop()
        received = collector.json_on(f"posturewatch/{USER}/alerts")

    # every alert issued arrived once; first alerts map one-to-one onto truth episodes
    assert sorted(a["id"] for a in received) == sorted(a.id for a in issued)
    first = [a for a in received if a["id"].endswith("-a0")]
    detected = {e.id: (e.start, e.end) for e in episodes}
    for kind in ALERTING:
        want = [(e.start, e.end) for e in truth.episodes if e.kind == kind]
        got = [detected[a["episode_id"]] for a in first if a["kind"] == kind]
        assert len(got) == len(want), f"{kind}: {len(got)} first alerts for {len(want)} truth episodes"
        for w in want:
            assert sum(_overlaps(w, g) for g in got) == 1, f"{kind} episode {w} has no single alert"
    assert {a["kind"] for a in first} >= {e.kind for e in truth.episodes if e.kind in ALERTING}

    # the database holds exactly what the hub sent
    victoria.flush()
    seconds = victoria.export(f'{{__name__="angles_posture_code",user="{USER}"}}')
    assert sum(len(s["timestamps"]) for s in seconds) == hub.counters.seconds
    durations = victoria.export(f'{{__name__="episodes_duration_s",user="{USER}"}}')
    stored = sorted(ts for s in durations for ts in s["timestamps"])
    assert stored == sorted(round(e.start * 1000) for e in episodes)
    alerts = victoria.export(f'{{__name__=~"alerts_.*",user="{USER}"}}')
    assert len({ts for s in alerts for ts in s["timestamps"]}) == len({a.ts for a in issued})
