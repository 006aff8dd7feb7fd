"""The demo's parts in-process: MQTT URL parsing, the terminal view, the embedded broker (v5
fallback and v5-only options degrading on amqtt), and a demo run stopped by ``duration``."""

from __future__ import annotations

import io
import json
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from servers import MqttCollector

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings
from posturewatch.app.demo_broker import EmbeddedBroker, parse_mqtt_url
from posturewatch.app.demo_view import DemoSnapshot, LiveView, render_panel
from posturewatch.runtime.config import Config
from posturewatch.runtime.demo import DemoOptions, DemoRun, validate_section
from posturewatch.simulators.config import parse_start

UTC = ZoneInfo("UTC")
T0 = parse_start("2026-03-02T08:00:00Z")


def test_mqtt_urls() -> None:
    s = parse_mqtt_url("mqtts://ann:p%40ss@broker.example:8884")
    assert (s.host, s.port, s.username, s.password, s.tls) == ("broker.example", 8884, "ann", "p@ss", True)
    s = parse_mqtt_url("mqtt://10.0.0.2")
    assert (s.port, s.tls, s.username) == (1883, False, None)
    for bad in ("http://host:1883", "mqtt://", "mqtt://host:99999", "mqtt://host/topic"):
        with pytest.raises(ValueError):
            parse_mqtt_url(bad)


def test_demo_section_is_validated() -> None:
    assert validate_section({"hours": 2, "speed": 60.0}) == {"hours": 2, "speed": 60.0}
    with pytest.raises(ValueError, match="unknown key 'hour'"):
        validate_section({"hour": 2})
    with pytest.raises(ValueError, match="wrong type"):
        validate_section({"seed": "one"})


def _snapshot(ts: float, **kw) -> DemoSnapshot:
    base = dict(sim_ts=ts, sim_start=T0, sim_end=T0 + 3600, speed_target=120, speed_actual=118,
                posture="sitting", posture_since=T0 + 60, angles={"pelvic_tilt": -17.2},
                open_episodes=[("posterior_tilt", T0 + 100)],
                last_alerts=[(T0 + 160, "posterior_tilt", "Pelvis tilted back")], alerts_total=1,
                broker="mqtt://127.0.0.1:1883", connected=True, protocol="MQTT 3.1.1")
    base.update(kw)
    return DemoSnapshot(**base)


def test_panel_shows_posture_angles_episodes_alerts_and_clock() -> None:
    text = "\n".join(render_panel(_snapshot(T0 + 1800), UTC, color=False))
    for expected in ("08:30:00", "50%", "×118", "sitting", "since 08:01:00", "pelvic tilt   -17°",
                     "pelvis tilted back (28 min)", "08:02:40  Pelvis tilted back", "connected"):
        assert expected in text, expected


def test_view_redraws_in_place_on_a_tty_and_prints_a_line_per_sim_minute_otherwise() -> None:
    tty = io.StringIO()
    view = LiveView(UTC, tty, tty=True)
    view.show(_snapshot(T0 + 10))
    view.show(_snapshot(T0 + 20), force=True)
    first_height = len(render_panel(_snapshot(T0 + 10), UTC))
    assert tty.getvalue().count(f"\033[{first_height}F") == 1  # the second draw moved back up
    plain = io.StringIO()
    view = LiveView(UTC, plain, tty=False)
    for second in range(0, 185, 5):
        view.show(_snapshot(T0 + second))
    lines = plain.getvalue().splitlines()
    assert [line[:8] for line in lines] == ["08:00:00", "08:01:00", "08:02:00", "08:03:00"]
    assert "\033" not in plain.getvalue()


def test_embedded_broker_falls_back_to_311_and_v5_only_options_degrade() -> None:
    broker = EmbeddedBroker()
    broker.start()
    link = MqttLink(MqttSettings(host=broker.host, port=broker.port, protocol="auto"))
    collector = MqttCollector(broker.host, broker.port, ["t/#"])
    try:
        assert link.start(wait_s=15)
        assert link.fell_back and link.protocol_version == 4
        acked = threading.Event()
        link.add_ack_listener(lambda mid: acked.set())
        # message expiry is a v5 property: on 3.1.1 it is left out, the message still goes
        assert link.publish_raw("t/expiring", b'{"x":1}', qos=1, expiry_s=60) is not None
        assert acked.wait(10)
        collector.wait_for(lambda msgs: any(t == "t/expiring" for t, _, _ in msgs))
    finally:
        collector.close()
        link.stop()
        broker.stop()
    again = EmbeddedBroker(port=broker.port)  # the port is free again after stop()
    again.start()
    again.stop()


def test_demo_run_stops_after_duration_and_keeps_what_it_made(tmp_path: Path) -> None:
    out = io.StringIO()
    options = DemoOptions(data_dir=tmp_path, hours=8, speed=600, seed=1, start=T0, duration=1.5,
                          report=False)
    config = Config(user="unit")
    result = DemoRun(options, config, LiveView(UTC, out, tty=False), threading.Event()).run()
    assert result.interrupted
    # stopped by the wall-clock limit long before the 8 h day ends (600× for 1.5 s caps it near
    # 15 simulated minutes however fast the machine; a slow one gets less); all of it delivered
    assert T0 < result.sim_reached < T0 + 3600
    assert result.undelivered == 0 and result.published > 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("broker: mqtt://127.0.0.1:")
    assert len(lines) > 1
    json.dumps(result.episodes)  # plain counts


def test_demo_serves_the_web_app_while_it_runs(tmp_path: Path) -> None:
    out = io.StringIO()
    options = DemoOptions(data_dir=tmp_path, hours=8, speed=600, seed=1, start=T0, duration=3.0,
                          report=False, web=True)
    seen: dict[str, int] = {}
    view = LiveView(UTC, out, tty=False)
    message = view.message

    def probe(text: str) -> None:  # the URL is printed before the day starts: ask it right away
        message(text)
        match = re.search(r"web app: (http://127\.0\.0\.1:\d+)/ — sign in as 'unit', password (\S+)", text)
        if match:
            opener = urllib.request.build_opener(_NoRedirect)
            try:
                opener.open(match.group(1) + "/", timeout=5)
            except urllib.error.HTTPError as exc:
                seen["status"], seen["port"] = exc.code, int(match.group(1).rsplit(":", 1)[1])
                seen["location"] = exc.headers["Location"]

    view.message = probe
    DemoRun(options, Config(user="unit"), view, threading.Event()).run()
    assert seen.get("status") == 303 and "/login" in seen["location"], seen
    with pytest.raises(OSError):  # stopped with the demo
        urllib.request.urlopen(f"http://127.0.0.1:{seen['port']}/login", timeout=2)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
