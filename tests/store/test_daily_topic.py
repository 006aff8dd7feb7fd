"""The retained daily topic on a real Mosquitto, from half an hour simulated across midnight.

Simulator → Monitor → OutputHub → outbox → MQTT pump → private Mosquitto. A subscriber that comes
later gets the retained summary: the day that ended at midnight (final, equal to the stored
summary) and the running one; during the stream the running summary went out every few minutes
of data and only grew. The Home Assistant sensors read fields the payload really has.
"""

from __future__ import annotations

import json
import re

from servers import MqttCollector, wait_until

from posturewatch.alerts.monitor import Monitor
from posturewatch.alerts.mqtt.homeassistant import DAILY_SENSORS, discovery_configs
from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings
from posturewatch.alerts.mqtt.payloads import Topics
from posturewatch.simulators.config import WearerConfig, parse_start
from posturewatch.simulators.wearer import iter_blocks
from posturewatch.store.hub import DAILY_EVERY_S, OutputHub
from posturewatch.store.outbox import Outbox
from posturewatch.store.pumps import MqttPump
from posturewatch.store.sqlite import SqliteStore

USER = "dayuser"
CONFIG = WearerConfig(hours=0.5, seed=4, rate=25, start=parse_start("2026-01-05T23:45:00Z"))


def test_retained_daily_summary_of_the_last_and_the_running_day(tmp_path, mosquitto):
    topics = Topics(USER)
    outbox = Outbox(tmp_path / "outbox.db", synchronous="NORMAL")
    store = SqliteStore(tmp_path / "store.db")
    monitor = Monitor()
    hub = OutputHub(USER, outbox, influx=False, sqlite=store)
    link = MqttLink(MqttSettings(host="127.0.0.1", port=mosquitto.port))
    pump = MqttPump(outbox, link)
    finished = []
    with MqttCollector("127.0.0.1", mosquitto.port, [topics.daily]) as live:
        assert link.start(wait_s=10)
        pump.start()
        try:
            for blocks in iter_blocks(CONFIG, chunk_s=30.0):
                step = monitor.push([b for b in blocks.values() if len(b)])
                finished += step.days
                hub.process(step)
            # the stream is not closed: the new day is still running
            assert pump.wait_drained(60)
            wait_until(lambda: any(m["last"] for m in live.json_on(topics.daily)), timeout=30,
                       what="the daily summary after midnight")
        finally:
            pump.stop()
            link.stop()
        seen = live.json_on(topics.daily)

    (day,) = finished
    assert day.day == "2026-01-05"
    with MqttCollector("127.0.0.1", mosquitto.port, [topics.daily]) as later:
        msgs = later.wait_for(lambda m: len(m) >= 1)
    topic, payload, retained = msgs[0]
    assert topic == topics.daily and retained
    daily = json.loads(payload)
    assert daily == seen[-1]
    last, today = daily["last"], daily["today"]
    assert last["day"] == "2026-01-05" and last["final"] is True
    stored = store.daily_summary(USER, "2026-01-05")
    for key, value in day.values().items():
        assert last[key] == round(value, 3)
        assert stored[key] == value
    assert today["day"] == "2026-01-06" and today["final"] is False
    assert 0 < today["wear_min"] <= 16.0  # the quarter hour after midnight, at most
    assert abs(last["wear_min"] - 15.0) <= 0.05  # the quarter hour before it, all worn

    # the running summary went out every DAILY_EVERY_S of data and its sums only grew
    running = [m["today"] for m in seen if m["today"] and m["today"]["day"] == "2026-01-05"]
    assert len(running) >= int(15 * 60 // DAILY_EVERY_S)
    for key in ("wear_min", "steps", "sitting_awake_min"):
        values = [r[key] for r in running]
        assert values == sorted(values), key

    # Home Assistant reads fields that the payload has
    configs = [c for _, c in discovery_configs(topics) if c.get("state_topic") == topics.daily]
    assert len(configs) == len(DAILY_SENSORS)
    for config in configs:
        (field,) = re.findall(r"value_json\.today\.(\w+)", config["value_template"])
        assert field in today and isinstance(today[field], float | int), field
