"""Home Assistant MQTT discovery: configs that let HA pick up one wearer's entities by itself.

Entities: the posture class, the main angles, today's sitting time (from the retained posture
payload), today's main figures (steps, sit-to-stand, time sitting / standing / walking / worn /
in bed, long sitting bouts, breaks, forward head, alerts; from the retained daily payload), the
day's reminder budget (from the status payload's ``reminders``) and an ``event`` entity firing on
each alert. Availability follows the retained
``status`` topic (``online`` / LWT ``offline``). The configs are retained and must be
re-published when HA announces itself with ``online`` on its birth topic
(``homeassistant/status``): ``is_birth`` recognises that message.
"""

from __future__ import annotations

from posturewatch.alerts.mqtt.payloads import Topics
from posturewatch.analytics.records import EPISODE_KINDS, Posture

BIRTH_TOPIC = "homeassistant/status"
MAIN_ANGLES = ("pelvic_tilt", "trunk_inclination", "hip_flexion", "lumbar_flexion", "neck_flexion")
# today's figures from the retained daily topic: (field, name, unit, device class, icon)
DAILY_SENSORS: tuple[tuple[str, str, str | None, str | None, str], ...] = (
    ("steps", "Steps today", "steps", None, "mdi:walk"),
    ("sit_to_stand", "Sit-to-stand today", None, None, "mdi:human-handsup"),
    ("sitting_awake_min", "Sitting awake today", "min", "duration", "mdi:chair-rolling"),
    ("standing_min", "Standing today", "min", "duration", "mdi:human-male"),
    ("walking_min", "Walking today", "min", "duration", "mdi:walk"),
    ("wear_min", "Worn today", "min", "duration", "mdi:watch"),
    ("in_bed_min", "In bed", "min", "duration", "mdi:bed"),
    ("long_sitting_bouts", "Sitting bouts of 30 min or more", None, None, "mdi:timer-sand"),
    ("breaks_per_sitting_hour", "Breaks per sitting hour", None, None, "mdi:coffee"),
    ("forward_head_min", "Forward head today", "min", "duration", "mdi:head"),
    ("alerts", "Alerts today", None, None, "mdi:bell"),
)


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
    configs += [config(*entity) for entity in reminder_budget_entities(topics)]
    for name, label, unit, device_class, icon in DAILY_SENSORS:
        body = {
            "name": label,
            "state_topic": topics.daily,
            "value_template": f"{{{{ value_json.today.{name} if value_json.today else none }}}}",
            "state_class": "measurement",
            "icon": icon,
        }
        if unit is not None:
            body["unit_of_measurement"] = unit
        if device_class is not None:
            body["device_class"] = device_class
        configs.append(config("sensor", f"daily_{name}", body))
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


def reminder_budget_entities(topics: Topics) -> list[tuple[str, str, dict[str, object]]]:
    """(component, object id, config) of the reminder budget, read from the status payload's
    ``reminders: {day, budget, used, remaining, exhausted}``; a status without it (the daemon's
    first seconds, an offline will) leaves the state unknown instead of zero."""

    def field(name: str, then: str = "value_json.reminders.{}") -> str:
        return ("{{ " + then.format(name) + " if value_json.reminders is defined else none }}")

    common = {"state_topic": topics.status, "entity_category": "diagnostic"}
    return [
        ("sensor", "reminders_remaining", {**common, "name": "Reminders left today",
                                           "value_template": field("remaining"),
                                           "state_class": "measurement", "icon": "mdi:bell-ring"}),
        ("sensor", "reminders_used", {**common, "name": "Reminders sent today",
                                      "value_template": field("used"), "state_class": "measurement",
                                      "icon": "mdi:bell-check"}),
        ("sensor", "reminders_budget", {**common, "name": "Reminder budget",
                                        "value_template": field("budget"), "icon": "mdi:bell-cog"}),
        ("binary_sensor", "reminders_exhausted", {
            **common, "name": "Reminders used up today",
            "value_template": field("exhausted", "('ON' if value_json.reminders.{} else 'OFF')"),
            "icon": "mdi:bell-off"}),
    ]
