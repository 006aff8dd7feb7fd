"""Home Assistant discovery of the reminder budget: the entities read the status topic, and their
templates (rendered with Jinja2, Home Assistant's template engine) give the numbers of a real
status payload from a session, and an unknown state when the payload has no budget."""

from __future__ import annotations

import jinja2
import pytest
from ha_payloads import USER, Published, run_session

from posturewatch.alerts.mqtt.homeassistant import discovery_configs
from posturewatch.alerts.mqtt.payloads import Topics, status_payload

ENTITIES = {"sensor/reminders_remaining": "remaining", "sensor/reminders_used": "used",
            "sensor/reminders_budget": "budget", "binary_sensor/reminders_exhausted": "exhausted"}


@pytest.fixture(scope="module")
def sessions() -> dict[int, Published]:
    return {cap: run_session(daily_cap=cap) for cap in (2, 12)}


def _budget_configs(topics: Topics) -> dict[str, dict]:
    node = f"{topics.prefix}_{topics.user}"
    found = {}
    for topic, payload in discovery_configs(topics):
        component, _node, object_id = topic.split("/")[1:4]
        assert _node == node
        if f"{component}/{object_id}" in ENTITIES:
            found[f"{component}/{object_id}"] = payload
    return found


def _render(template: str, payload: dict) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string(template).render(value_json=payload)


def test_budget_entities_read_the_real_status_payload(sessions: dict[int, Published]) -> None:
    topics = Topics(USER)
    configs = _budget_configs(topics)
    assert set(configs) == set(ENTITIES)
    assert len({c["unique_id"] for c in configs.values()}) == len(ENTITIES)
    for key, config in configs.items():
        assert config["state_topic"] == topics.status == config["availability_topic"]
        for cap, published in sessions.items():
            budget = published.status["reminders"]
            expected = budget[ENTITIES[key]]
            if key.startswith("binary_sensor"):
                expected = "ON" if expected else "OFF"
            assert _render(config["value_template"], published.status) == str(expected), (key, cap)
        # before the first step (or in the offline will) there is no budget: unknown, not 0
        bare = status_payload(0.0, True, {})
        assert _render(config["value_template"], bare) == "None"
    spent, plenty = sessions[2].status["reminders"], sessions[12].status["reminders"]
    assert spent["exhausted"] and spent["remaining"] == 0 and spent["used"] == spent["budget"] == 2
    assert not plenty["exhausted"] and plenty["remaining"] == plenty["budget"] - plenty["used"] > 0
