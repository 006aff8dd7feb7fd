"""deploy/homeassistant-automation.yaml: the example automations parse, listen on the topic the
daemon publishes alerts on, call a companion-app notify action, and every template in them reads
only fields the real payloads have: rendered with Jinja2 (Home Assistant's template engine,
undefined names an error) against the alerts and the budget notice of a simulated session."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
import yaml
from ha_payloads import USER, Published, run_session

from posturewatch.alerts.mqtt.payloads import Topics

FILE = Path(__file__).resolve().parents[2] / "deploy" / "homeassistant-automation.yaml"
FIELD = re.compile(r"trigger\.payload_json\.(\w+)")


@pytest.fixture(scope="module")
def published() -> Published:
    out = run_session(daily_cap=2)
    assert out.alerts and out.notices
    return out


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _render(template: str, payload: dict, topic: str) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string(template).render(trigger={"topic": topic, "payload_json": payload})


def _automations() -> dict[str, dict]:
    loaded = yaml.safe_load(FILE.read_text())
    assert isinstance(loaded, list) and len(loaded) == 2
    return {a["id"]: a for a in loaded}


def _passes(automation: dict, payload: dict, topic: str) -> bool:
    return all(_render(c["value_template"], payload, topic) == "True" for c in automation["conditions"])


def test_automations_listen_on_the_alerts_topic_and_notify_a_phone() -> None:
    topics = Topics(USER)
    for automation in _automations().values():
        assert [t["trigger"] for t in automation["triggers"]] == ["mqtt"]
        assert automation["triggers"][0]["topic"] == topics.alerts
        [action] = automation["actions"]
        assert action["action"].startswith("notify.mobile_app_")
        assert {"title", "message"} <= set(action["data"])


def test_templates_read_only_real_payload_fields(published: Published) -> None:
    automations = _automations()
    reminder, notice = automations["posturewatch_ann_reminder_to_phone"], \
        automations["posturewatch_ann_budget_used_up"]
    topic = Topics(USER).alerts
    alert_fields = set(published.alerts[0])
    notice_fields = set(published.notices[0])
    # the fields the reminder's action uses are in every alert; the notice's in the notice
    action_fields = set(FIELD.findall(" ".join(_strings(reminder["actions"]))))
    assert action_fields == {"title", "message", "id", "severity"} <= alert_fields
    assert set(FIELD.findall(" ".join(_strings(notice["actions"])))) <= notice_fields
    for payload in published.alerts:
        assert _passes(reminder, payload, topic) and not _passes(notice, payload, topic)
        data = reminder["actions"][0]["data"]
        assert _render(data["title"], payload, topic) == payload["title"]
        assert _render(data["message"], payload, topic) == payload["message"]
        assert _render(data["data"]["tag"], payload, topic) == f"posturewatch-{payload['id']}"
        level = _render(data["data"]["push"]["interruption-level"], payload, topic)
        assert level == ("time-sensitive" if payload["severity"] == "warning" else "active")
        for text in _strings(reminder["actions"]):
            _render(text, payload, topic)  # no undefined field anywhere
    [exhausted] = published.notices
    assert exhausted["type"] == "budget_exhausted"
    assert _passes(notice, exhausted, topic) and not _passes(reminder, exhausted, topic)
    data = notice["actions"][0]["data"]
    assert _render(data["message"], exhausted, topic) == exhausted["message"]
    for text in _strings(notice["actions"]):
        _render(text, exhausted, topic)
