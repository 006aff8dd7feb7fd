"""OutputHub without servers: what one block queues for MQTT, InfluxDB and the local store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posturewatch.alerts.monitor import AlertResponse, FinishedDay, MonitorStep
from posturewatch.alerts.mqtt.payloads import angles_payload, encode
from posturewatch.alerts.policy import AlertPolicy
from posturewatch.analytics.days import DayTally
from posturewatch.analytics.records import Episode, EpisodeEvent, Posture
from posturewatch.store.hub import INFLUX, MQTT, OutputHub
from posturewatch.store.outbox import Outbox
from posturewatch.store.sqlite import SqliteStore

T0 = 1_709_553_600.0


def block(t0: float, seconds: int, code: Posture):
    t = t0 + np.arange(seconds * 10) / 10
    return t, {"pelvic_tilt": np.full(len(t), -18.0)}, np.full(len(t), int(code))


def messages(outbox: Outbox, topic_end: str) -> list[dict]:
    return [
        json.loads(i.payload) for i in outbox.peek(MQTT, 100_000)
        if i.meta["topic"].endswith(topic_end)
    ]


def test_block_outputs_and_alert(tmp_path):
    outbox = Outbox(tmp_path / "o.db", synchronous="NORMAL")
    store = SqliteStore(tmp_path / "s.db")
    policy = AlertPolicy()
    hub = OutputHub("ann", outbox, sqlite=store)
    t, angles, posture = block(T0, 70, Posture.SITTING)
    ep = Episode("posterior_tilt", T0, T0 + 60)
    events = [EpisodeEvent("start", ep, T0 + 60)]
    today = DayTally("2024-03-04", T0)
    today.add(posture)
    step = MonitorStep.of(t, angles, posture, events, policy.advance(events, T0 + 70, "sitting"))
    step.today = today
    alerts = hub.process(step)
    assert [a.kind for a in alerts] == ["posterior_tilt"]
    angle_msgs = messages(outbox, "/angles")
    assert len(angle_msgs) == 70 and angle_msgs[0]["angles"]["pelvic_tilt"] == -18.0
    (posture_msg,) = messages(outbox, "/posture")
    assert posture_msg["posture"] == "sitting" and posture_msg["sitting_today_min"] == round(70 / 60, 3)
    assert [m["event"] for m in messages(outbox, "/episodes")] == ["start"]
    assert messages(outbox, "/alerts")[0]["id"] == alerts[0].id
    retained = {i.meta["topic"]: i.meta["retain"] for i in outbox.peek(MQTT, 100_000)}
    assert retained["posturewatch/ann/posture"] and not retained["posturewatch/ann/alerts"]
    lines = "\n".join(i.payload.decode() for i in outbox.peek(INFLUX, 1000)).split("\n")
    assert sum(line.startswith("angles,") for line in lines) == 70
    assert sum(line.startswith("alerts,") for line in lines) == 1
    assert not any(line.startswith("episodes,") for line in lines)  # written when it ends

    # the episode ends: the response reaches the local store, the episode row goes to Influx,
    # the finished day goes to both
    t2, angles2, posture2 = block(T0 + 70, 30, Posture.STANDING)
    done = Episode("posterior_tilt", T0, T0 + 60, T0 + 75, -18.0, -18.0)
    ended = [EpisodeEvent("end", done, T0 + 85)]
    policy.advance(ended, T0 + 100, "standing")
    today.add(posture2)
    day = FinishedDay("2024-03-04", T0, today, policy.daily_summary("2024-03-04"))
    hub.process(MonitorStep.of(t2, angles2, posture2, ended,
                               responses=[AlertResponse(alerts[0].id, done.id, 15.0)], days=[day]))
    (row,) = store.alerts_on("ann", "2024-03-04")
    assert row["response_s"] == 15.0
    assert messages(outbox, "/posture")[-1]["posture"] == "standing"
    assert any(i.payload.startswith(b"episodes,") for i in outbox.peek(INFLUX, 1000))
    stored = store.daily_summary("ann", "2024-03-04")
    assert stored["alerts"] == 1 and stored["response_rate_60s"] == 1.0
    assert stored["alerts_posterior_tilt"] == 1.0 and stored["sitting_min"] == pytest.approx(70 / 60)
    assert any(i.payload.startswith(b"daily_summary,") for i in outbox.peek(INFLUX, 1000))


def test_full_rate_writes_every_frame_with_ms_stamps(tmp_path):
    outbox = Outbox(tmp_path / "o.db", synchronous="NORMAL")
    hub = OutputHub("ann", outbox, full_rate=True, mqtt=False)
    t, angles, posture = block(T0, 2, Posture.STANDING)
    hub.process(MonitorStep.of(t, angles, posture))
    lines = outbox.peek(INFLUX, 10)[0].payload.decode().split("\n")
    assert len(lines) == 20 and lines[1].endswith(f" {round((T0 + 0.1) * 1000)}")
    assert outbox.pending(MQTT) == 0


def test_angles_messages_equal_the_single_row_payload(tmp_path):
    outbox = Outbox(tmp_path / "o.db", synchronous="NORMAL")
    hub = OutputHub("ann", outbox, influx=False)
    rng = np.random.default_rng(5)
    t = T0 + np.arange(50) / 10
    angles = {"trunk_inclination": rng.normal(10, 5, 50), "pelvic_tilt": rng.normal(-8, 4, 50)}
    angles["pelvic_tilt"][20:30] = np.nan  # second 2 has no pelvis: null in the payload
    posture = np.repeat([int(Posture.SITTING), int(Posture.STANDING)], 25)
    hub.process(MonitorStep.of(t, angles, posture))
    queued = [i.payload for i in outbox.peek(MQTT, 100) if i.meta["topic"].endswith("/angles")]
    assert len(queued) == 5
    for k, payload in enumerate(queued):
        rows = slice(10 * k, 10 * k + 10)
        means = {n: float(np.nanmean(v[rows])) if np.isfinite(v[rows]).any() else float("nan")
                 for n, v in sorted(angles.items())}
        label = Posture(int(np.bincount(posture[rows]).argmax())).label
        assert payload == encode(angles_payload(T0 + k, label, means))
    assert json.loads(queued[2])["angles"]["pelvic_tilt"] is None


def test_the_budget_exhausted_notice_goes_to_the_phone_once(tmp_path):
    from posturewatch.alerts.records import BudgetExhausted

    outbox = Outbox(tmp_path / "o.db", synchronous="NORMAL")
    hub = OutputHub("ann", outbox, influx=False)
    t, angles, posture = block(T0, 2, Posture.SITTING)
    notice = BudgetExhausted("2024-03-04", T0 + 1, 12, 12, T0 + 86400, "No more reminders today",
                             "You had all 12 of today's reminders.")
    step = MonitorStep.of(t, angles, posture)
    step.notices = [notice]
    hub.process(step)
    hub.process(MonitorStep.of(*block(T0 + 2, 2, Posture.SITTING)))
    (sent,) = messages(outbox, "/alerts")
    assert sent["type"] == "budget_exhausted" and sent["id"] == "budget_exhausted-2024-03-04"
    assert sent["title"] == "No more reminders today" and sent["used"] == sent["budget"] == 12
