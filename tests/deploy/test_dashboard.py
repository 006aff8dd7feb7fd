"""The shipped Grafana dashboard asks only for what posturewatch really writes to InfluxDB.

The schema is not a hand-written list: a small synthetic stretch of frames (every posture and
angle), episode start/end events of every kind, the alerts the real policy issues for them, a
daily summary and a status report go through the real writers — ``OutputHub`` into an
``Outbox`` (the daemon's direct InfluxDB lines), and the hub's MQTT payloads plus a status
payload through the central sink's ``from_mqtt.lines_for`` — and the resulting line protocol is
parsed. Every Flux query of the dashboard is then checked against it (see ``flux_refs``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml
from flux_refs import Schema, query_problems, references, written_schema

from posturewatch.alerts.monitor import FinishedDay, MonitorStep
from posturewatch.alerts.mqtt.payloads import encode, split_topic, status_payload
from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.days import DayTally, day_start
from posturewatch.analytics.records import EPISODE_KINDS, Episode, EpisodeEvent, Posture
from posturewatch.ingest.records import ANGLE_NAMES, LOCATIONS
from posturewatch.store.from_mqtt import DATA_TOPICS, lines_for
from posturewatch.store.hub import INFLUX, MQTT, OutputHub
from posturewatch.store.outbox import Outbox

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "posturewatch.json"
USER = "ann"
T0 = 1_709_546_400.0  # 2024-03-04 10:00 UTC
RATE_HZ = 10


def _bucket() -> str:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return compose["services"]["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_BUCKET"]


def _frames(t0: float, seconds: int):
    """Every posture in turn (10 s each) with every angle moving."""
    t = t0 + np.arange(seconds * RATE_HZ) / RATE_HZ
    codes = np.array([int(p) for p in Posture])
    posture = codes[((t - T0) // 10).astype(int) % len(codes)]
    angles = {name: 10.0 * np.sin(t / (7.0 + i)) for i, name in enumerate(ANGLE_NAMES)}
    return t, angles, posture


def _policy() -> AlertPolicy:
    every_kind = {kind: {"enabled": True, "delay_s": 0.0, "postures": []} for kind in EPISODE_KINDS}
    # no budget: every kind must reach the database once, whatever the time of day
    return AlertPolicy(AlertSettings.from_mapping({"quiet_hours": {"enabled": False}, "daily_cap": 0,
                                                   **every_kind}))


def _run_writers(tmp: Path) -> tuple[list[str], list[str]]:
    """(lines the daemon writes to InfluxDB itself, lines the sink writes from its MQTT output)."""
    outbox = Outbox(tmp / "outbox.db", synchronous="NORMAL")
    policy = _policy()
    hub = OutputHub(USER, outbox)
    episodes = [
        Episode(kind, T0 + 5 * i, T0 + 5 * i + 60, T0 + 130 + 5 * i, -20.0 - i, -17.0 - i)
        for i, kind in enumerate(EPISODE_KINDS)
    ]
    starts = [EpisodeEvent("start", e, e.confirmed) for e in episodes]
    t, angles, posture = _frames(T0, 100)
    hub.process(MonitorStep.of(t, angles, posture, starts, policy.advance(starts, T0 + 100, "sitting")))
    ends = [EpisodeEvent("end", e, e.end + 10) for e in episodes]
    t, angles, posture = _frames(T0 + 100, 100)
    alerts = policy.advance(ends, T0 + 200, "standing")
    day = datetime.fromtimestamp(T0, UTC).date().isoformat()
    tally = DayTally(day, day_start(day, ZoneInfo("UTC")))
    tally.add(posture)
    finished = FinishedDay(day, tally.start, tally, policy.daily_summary(day))
    hub.process(MonitorStep.of(t, angles, posture, ends, alerts, days=[finished]))
    hub.finish()

    direct = [line for item in outbox.peek(INFLUX, 100_000) for line in item.payload.decode().split("\n")]
    via_sink = []
    for item in outbox.peek(MQTT, 100_000):
        _, kind = split_topic(item.meta["topic"])
        if kind in DATA_TOPICS:
            via_sink += lines_for(USER, kind, item.payload)[0]
    sensors = {
        loc: {"connected": True, "battery_pct": 80.0, "rate_hz": 50.0, "loss_pct": 0.5} for loc in LOCATIONS
    }
    via_sink += lines_for(USER, "status", encode(status_payload(T0 + 200, True, sensors)))[0]
    outbox.close()
    return direct, via_sink


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Schema]:
    direct, via_sink = _run_writers(tmp_path_factory.mktemp("writers"))
    both = written_schema(direct + via_sink)
    # the synthetic stretch must have exercised every writer, or the checks below prove little
    assert set(both) == {"angles", "episodes", "alerts", "sensor_status", "daily_summary"}
    assert both["episodes"].tags["kind"] == set(EPISODE_KINDS)
    assert both["alerts"].tags["kind"] == set(EPISODE_KINDS)
    assert {p.label for p in Posture} <= both["angles"].tags["posture"]
    assert set(ANGLE_NAMES) <= both["angles"].fields
    return {"all": both, "sink": written_schema(via_sink)}


def _queries() -> list[tuple[str, str]]:
    """(where, Flux) for every panel target and every query variable of the dashboard."""
    board = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                out.append((f"panel {panel['title']!r} {target['refId']}", target["query"]))
            walk(panel.get("panels", []))

    walk(board["panels"])
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            out.append((f"variable {variable['name']!r}", text))
    return out


def _panel_queries() -> list[tuple[str, str]]:
    return [(where, q) for where, q in _queries() if where.startswith("panel")]


def test_every_query_references_only_what_the_writers_write(written):
    bucket = _bucket()
    problems = [f"{where}: {p}" for where, q in _queries() for p in query_problems(q, written["all"], bucket)]
    assert problems == []


def test_every_panel_is_per_wearer_and_follows_the_time_picker():
    for where, query in _panel_queries():
        assert 'r.user == "${user}"' in query, where
        assert "range(start: v.timeRangeStart, stop: v.timeRangeStop)" in query, where
        assert references(query).measurements, where


def test_dashboard_uses_every_measurement_and_the_central_sink_feeds_all_but_the_summary(written):
    used = set().union(*(references(q).measurements for _, q in _queries()))
    assert used == set(written["all"])
    # a deployment whose InfluxDB is fed by `posturewatch sink` alone still fills every panel
    # except the response rate, which comes from the daemon's daily summary
    assert set(written["all"]) - set(written["sink"]) == {"daily_summary"}
    bucket = _bucket()
    for where, query in _queries():
        if "daily_summary" not in references(query).measurements:
            assert query_problems(query, written["sink"], bucket) == [], where


@pytest.mark.parametrize(
    ("original", "broken", "expected"),
    [
        ('r._field == "pelvic_tilt"', 'r._field == "pelvic_tilt_deg"', "field 'pelvic_tilt_deg'"),
        ('r._measurement == "episodes"', 'r._measurement == "episode"', "measurement 'episode'"),
        ('r.posture == "sitting"', 'r.posture == "seated"', "posture='seated'"),
        ('group(columns: ["kind"])', 'group(columns: ["type"])', "column 'type'"),
        ("/^response_rate_[0-9]+s$/", "/^reply_rate_/", "matches no field"),
        ('r.user == "${user}"', 'r.wearer == "${user}"', "tag 'wearer'"),
        ('from(bucket: "posturewatch")', 'from(bucket: "telegraf")', "bucket 'telegraf'"),
        ("|> group()", "|> group(", "unclosed"),
    ],
)
def test_checker_reports_a_broken_reference(written, original, broken, expected):
    query = next(q for _, q in _queries() if original in q)
    assert query_problems(query, written["all"], _bucket()) == []
    problems = query_problems(query.replace(original, broken, 1), written["all"], _bucket())
    assert any(expected in p for p in problems), problems


def test_dashboard_layout_and_datasource():
    board = json.loads(DASHBOARD.read_text())
    datasources = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "influxdb.yml").read_text()
    )["datasources"]
    (influx,) = [d for d in datasources if d["type"] == "influxdb"]
    assert influx["jsonData"]["version"] == "Flux"
    ids, cells = set(), set()
    for panel in board["panels"]:
        assert panel["id"] not in ids
        ids.add(panel["id"])
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24
        xs, ys = range(pos["x"], pos["x"] + pos["w"]), range(pos["y"], pos["y"] + pos["h"])
        area = {(x, y) for x in xs for y in ys}
        assert not area & cells, f"panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == influx["uid"]
            assert all(t["datasource"]["uid"] == influx["uid"] for t in panel["targets"])
    names = {v["name"] for v in board["templating"]["list"]}
    assert {"user", "tz"} <= names
