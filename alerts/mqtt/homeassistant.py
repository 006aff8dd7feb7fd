"""Home Assistant MQTT discovery: configs that let HA pick up one wearer's entities by itself.

Entities: the posture class, the main angles, today's sitting time (from the retained posture
payload) and an ``event`` entity firing on each alert. Availability follows the retained
``status`` topic (``online`` / LWT ``offline``). The configs are retained and must be
re-published when HA announces itself with ``online`` on its birth topic
(``homeassistant/status``): ``is_birth`` recognises that message.
"""

from __future__ import annotations

from posturewatch.alerts.mqtt.payloads import Topics
from posturewatch.analytics.records import EPISODE_KINDS, Posture

BIRTH_TOPIC = "homeassistant/status"
MAIN_ANGLES = ("pelvic_tilt", "trunk_inclination", "hip_flexion", "lumbar_flexion", "neck_flexion")


def is_birth(topic: str, payload: bytes, discovery_prefix: str = "homeassistant") -> bool:
    return topic == f"{discovery_prefix}/status" and payload.strip() == b"online"


def discovery_configs(
    topics: Topics, discovery_prefix: str = "homeassistant"
) -> list[tuple[str, dict[str, object]]]:
    """(config topic, config payload) pairs for one user, to publish retained."""
    node = f"{topics.prefix}_{topics.user}"
    device = {
        "identifiers": [node],
        "name": f"Posture {topics.user}",
        "manufacturer": "posturewatch",
        "model": "wearable posture monitor",
    }
    common = {
        "device": device,
        "availability_topic": topics.status,
        "availability_template": "{{ value_json.state }}",
        "payload_available": "online",
        "payload_not_available": "offline",
    }

    def config(component: str, object_id: str, body: dict) -> tuple[str, dict[str, object]]:
        unique = f"{node}_{object_id}"
        payload = {**common, "unique_id": unique, "object_id": unique, **body}
        return f"{discovery_prefix}/{component}/{node}/{object_id}/config", payload

    configs = [
        config("sensor", "posture", {
            "name": "Posture",
            "state_topic": topics.posture,
            "value_template": "{{ value_json.posture }}",
            "device_class": "enum",
            "options": [p.label for p in Posture],  # incl. not_worn: sensors off the body
            "icon": "mdi:human-handsdown",
        }),
        config("sensor", "sitting_today", {
            "name": "Sitting today",
            "state_topic": topics.posture,
            "value_template": "{{ value_json.sitting_today_min }}",
            "unit_of_measurement": "min",
            "device_class": "duration",
            "state_class": "measurement",
            "icon": "mdi:chair-rolling",
        }),
        config("event", "alert", {
            "name": "Posture alert",
            "state_topic": topics.alerts,
            "event_types": list(EPISODE_KINDS),
            "value_template": (
                "{{ {'event_type': value_json.kind, 'title': value_json.title,"
                " 'message': value_json.message, 'id': value_json.id} | tojson }}"
            ),
            "icon": "mdi:bell-alert",
        }),
    ]
    for angle in MAIN_ANGLES:
        configs.append(config("sensor", angle, {
            "name": angle.replace("_", " ").capitalize(),
            "state_topic": topics.angles,
            "value_template": f"{{{{ value_json.angles.{angle} }}}}",
            "unit_of_measurement": "°",
            "state_class": "measurement",
            "expire_after": 120,
        }))
    return configs
