"""The daemon's config sections and its MQTT side in real time: status, commands, outputs.

Three emulated sensors stand still (so a calibration request succeeds) while the daemon runs
against a private Mosquitto; commands go in on ``cmd/…`` and their replies come back on
``cmd/result``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from servers import MqttCollector

from posturewatch.runtime.calibration_file import load_calibrations
from posturewatch.runtime.config import ConfigError, from_mapping, load
from posturewatch.runtime.daemon import daemon_session
from posturewatch.runtime.session import Session
from posturewatch.simulators.devices.backend import EmulatedBackend, emulate_config
from posturewatch.simulators.devices.vtime import run_virtual

SENSORS = [
    {"location": "pelvis", "family": "movesense", "address": "AA:00:00:00:00:01"},
    {"location": "thigh", "family": "witmotion", "address": "AA:00:00:00:00:02", "rate_hz": 50},
    {"location": "thorax", "family": "movella_dot", "name": "Xsens DOT", "rate_hz": 30},
]
EXAMPLE = Path(__file__).parents[2] / "deploy" / "example-sensors.toml"


def test_example_config_is_valid(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = load(EXAMPLE)
    assert {s.location for s in settings.ble.sensors} == {"pelvis", "thigh", "thorax"}
    assert settings.mqtt is not None and settings.influx is None and settings.store.sqlite
    assert settings.paths.root == tmp_path / "posturewatch" / "alice"
    assert settings.paths.store == tmp_path / "posturewatch" / "alice" / "store.db"


@pytest.mark.parametrize(("section", "error"), [
    ({"mqtt": {"hots": "x"}}, "[mqtt] unknown key 'hots'"),
    ({"mqtt": {"port": "1883"}}, "[mqtt] port must be of type int"),
    ({"mqtt": {"protocol": "4"}}, "protocol must be"),
    ({"influx": {"bucket": 3}}, "[influx] bucket must be of type str"),
    ({"store": {"sqlite": "yes"}}, "[store] sqlite must be of type bool"),
    ({"mqtt": {"prefix": "a/b"}}, "[mqtt] prefix: invalid MQTT topic level"),
    ({"mqtt": {"status_interval_s": 0}}, "status_interval_s must be a positive finite number"),
    ({"mqtt": {"status_interval_s": float("nan")}}, "[mqtt] status_interval_s must be a finite number"),
    ({"mqtt": {"status_interval_s": float("inf")}}, "[mqtt] status_interval_s must be a finite number"),
    ({"mqtt": {"reconnect_max_s": float("nan")}}, "[mqtt] reconnect_max_s must be a finite number"),
    ({"influx": {"timeout_s": float("inf")}}, "[influx] timeout_s must be a finite number"),
    ({"store": {"synchronous": "OFF"}}, "[store] synchronous must be"),
    ({"ble": {"max_backoff_s": float("nan")}}, "[ble] max_backoff_s must be a positive finite number"),
    ({"ble": {"scan_timeout": 3}}, "[ble] has unknown keys"),
    ({"mounting": {"pelvis": {"superior": "z", "anterior": "x"}}}, "mounting differs"),
])
def test_wrong_sections_name_the_key(section, error):
    sensors = [dict(SENSORS[0], mounting={"superior": "x", "anterior": "-z"}), *SENSORS[1:]]
    with pytest.raises(ConfigError, match=error.replace("[", r"\[").replace("]", r"\]")):
        from_mapping({"sensors": sensors, **section})


@pytest.mark.asyncio
async def test_status_commands_and_calibration_over_mqtt(mosquitto, tmp_path, cleanup):
    user = "cmdtest"
    config = from_mapping({
        "user": user, "sensors": SENSORS,
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "status_interval_s": 2},
        "store": {"dir": str(tmp_path / "state")},
    })
    settings = config
    cal_path = tmp_path / "calibration.json"
    base = f"posturewatch/{user}"
    collector = cleanup.enter_context(MqttCollector(mosquitto.host, mosquitto.port, [f"{base}/#"]))

    def replies(command: str) -> list[dict]:
        return [r for r in collector.json_on(f"{base}/cmd/result") if r["command"] == command]

    async def main() -> Session:
        loop = asyncio.get_running_loop()
        devices = emulate_config(settings.ble, time.time, seed=1)
        daemon = daemon_session(config, EmulatedBackend(devices), calibration_file=cal_path)
        runner = asyncio.create_task(daemon.run())

        async def streaming() -> None:
            while not (daemon.outputs.service and daemon.outputs.service.link.connected
                       and all(s["state"] == "streaming" for s in daemon.status()["sensors"].values())):
                if runner.done():
                    runner.result()  # the daemon died: its error, not a timeout
                    raise AssertionError("the daemon stopped before every sensor streamed")
                await asyncio.sleep(0.2)

        try:
            await asyncio.wait_for(streaming(), 60)
        except BaseException:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            raise
        await asyncio.sleep(5.0)  # a few seconds of standing still to calibrate from
        for command, body in [("snooze", {"minutes": 20, "id": "s1"}), ("snooze", b"{not json"),
                              ("config", {"alerts": {"daily_cap": 3}}), ("calibrate", {})]:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            collector.client.publish(f"{base}/cmd/{command}", payload, qos=1)
        await loop.run_in_executor(None, collector.wait_for,
                                   lambda m: sum(t.endswith("cmd/result") for t, _, _ in m) >= 4, 20)
        await asyncio.sleep(2.5)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        return daemon

    daemon = await main()
    assert daemon.outputs.hub is None, "cancelling the run closes every output"
    collector.wait_for(lambda m: any(t == f"{base}/status" and b'"offline"' in p for t, p, _ in m))
    collector.close()

    snoozes = replies("snooze")
    assert [r["ok"] for r in snoozes] == [True, False] and snoozes[0]["id"] == "s1"
    assert daemon.monitor.policy.settings.daily_cap == 3 and replies("config")[0]["ok"]
    calibrated = replies("calibrate")[0]
    assert calibrated["ok"], calibrated
    assert calibrated["result"]["locations"] == ["pelvis", "thigh", "thorax"]
    assert daemon.monitor.pipeline.calibrations["thigh"].source == "pose"
    stored, notes = load_calibrations(cal_path, settings.pipeline.declared)
    assert set(stored) == {"pelvis", "thigh", "thorax"}, notes

    statuses = collector.json_on(f"{base}/status")
    online = [s for s in statuses if s["state"] == "online" and s["sensors"]]
    assert len(online) >= 3, "status goes out regularly and on every change"
    live = [s for s in online if all(v["state"] == "streaming" for v in s["sensors"].values())]
    assert live and online[-1]["sensors"]["thorax"]["state"] == "stopped"
    assert statuses[-1]["state"] == "offline"
    for location in ("pelvis", "thigh", "thorax"):
        s = live[-1]["sensors"][location]
        assert s["connected"] and s["samples"] > 0 and s["battery_pct"] is not None
        assert {"loss_pct", "lost", "gaps", "gap_s", "rate_hz"} <= set(s)
    assert collector.json_on(f"{base}/angles"), "1 Hz angles are published through the outbox"


def test_with_influx_the_daemon_writes_the_database_and_no_local_store(victoria, tmp_path):
    user = "daemoninflux"
    config = from_mapping({"user": user, "sensors": SENSORS, "influx": {"url": victoria.url},
                           "store": {"dir": str(tmp_path / "state")}})
    settings = config
    assert not settings.store.sqlite and settings.mqtt is None

    async def main(now):
        devices = emulate_config(settings.ble, now, seed=2)
        daemon = daemon_session(config, EmulatedBackend(devices), now=now)
        await daemon.run(duration_s=120.0)
        return daemon

    daemon = run_virtual(main, epoch=1_750_000_000.0)
    assert daemon.frames_out > 0.9 * 120 * 10
    rows = victoria.export(f'{{__name__="angles_pelvic_tilt",user="{user}"}}')
    assert sum(len(r["values"]) for r in rows) >= 100  # 1 Hz, every second that had data
    status = victoria.export(f'{{__name__="sensor_status_connected",user="{user}"}}')
    assert {r["metric"]["location"] for r in status} == {"pelvis", "thigh", "thorax"}
    assert not (tmp_path / "state" / "store.db").exists()
