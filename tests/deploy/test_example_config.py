"""deploy/posturewatch.toml: accepted by the real validators, documents every key, shows defaults.

The file is loaded exactly as ``posturewatch run`` loads it (``runtime.config.load``, which
parses every section into its typed settings and hands ``[ble]``/``[[sensors]]`` to
``ingest.ble.config``).
Every key each settings class accepts must appear in it (commented out for keys without a
value, such as TLS files), and every value must still equal the code's default apart from the
few an example has to set (the user, the credentials, the time zone, the adapter).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from posturewatch.alerts.mqtt.link import MqttSettings
from posturewatch.alerts.settings import AlertSettings
from posturewatch.analytics.episodes import EpisodeSettings
from posturewatch.analytics.posture import PostureSettings
from posturewatch.ingest.ble.config import DaemonConfig, SensorConfig
from posturewatch.ingest.mounting import DEFAULT_MOUNTING
from posturewatch.ingest.protocols import family_names
from posturewatch.runtime import config as app_config
from posturewatch.runtime.config import ArchiveSettings, OutputOptions, StoreSettings, WebSettings
from posturewatch.store.influx import InfluxSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "posturewatch.toml"


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("POSTUREWATCH_MQTT_PASSWORD", "POSTUREWATCH_INFLUX_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def load(path: Path = EXAMPLE):
    config = app_config.load(path)
    return config, config


def simple_fields(cls) -> list[str]:
    """The keys a TOML table can set: fields with a scalar default (not tuples, tables, …)."""
    defaults = cls() if cls is not DaemonConfig else None
    scalar = str | int | float | bool | None
    return [f.name for f in dataclasses.fields(cls)
            if defaults is None or isinstance(getattr(defaults, f.name), scalar)]


def documented(text: str, section: str, key: str) -> bool:
    """``key =`` (possibly commented out) inside ``[section]``."""
    match = re.search(rf"^\[{re.escape(section)}\]\s*$(.*?)(?=^\[)", text + "\n[", re.M | re.S)
    assert match, f"no [{section}] table"
    return re.search(rf"^\s*#?\s*{re.escape(key)}\s*=", match.group(1), re.M) is not None


def test_example_is_accepted_by_every_validator(clean_env):
    config, settings = load()
    assert config.user == "alice"
    assert [s.location for s in settings.ble.sensors] == ["pelvis", "thigh", "thorax"]
    assert {s.family for s in settings.ble.sensors} <= set(family_names())
    assert settings.mqtt is not None and settings.influx is not None
    assert settings.mqtt.username == config.user  # the broker ACL is keyed on the login


def test_example_values_are_the_code_defaults(clean_env):
    config, settings = load()
    assert config.pipeline.episodes == EpisodeSettings()
    assert config.pipeline.posture == PostureSettings()
    assert config.alerts == dataclasses.replace(AlertSettings(), timezone="Europe/Berlin")
    assert {loc: tuple(axes) for loc, axes in config.pipeline.mountings.items()} == DEFAULT_MOUNTING
    assert settings.mqtt == MqttSettings(username="alice", password="change-me",
                                         client_id="posturewatch-daemon-alice")
    assert settings.influx == InfluxSettings(token="change-me")
    assert settings.outputs == OutputOptions()
    assert config.web == WebSettings()
    assert dataclasses.replace(settings.store, dir=Path("x")) == StoreSettings(dir=Path("x"), sqlite=False)
    assert settings.archive == ArchiveSettings()
    assert dataclasses.replace(settings.ble, sensors=(), adapter=None) == DaemonConfig(sensors=())


def test_example_documents_every_key():
    text = EXAMPLE.read_text()
    tables = {
        "episodes": simple_fields(EpisodeSettings),
        "posture": simple_fields(PostureSettings),
        "alerts": [f.name for f in dataclasses.fields(AlertSettings)
                   if not dataclasses.is_dataclass(getattr(AlertSettings(), f.name))],
        "alerts.quiet_hours": [f.name for f in dataclasses.fields(AlertSettings().quiet_hours)],
        "alerts.waking_hours": [f.name for f in dataclasses.fields(AlertSettings().waking_hours)],
        "alerts.escalation": [f.name for f in dataclasses.fields(AlertSettings().escalation)],
        "alerts.training": [f.name for f in dataclasses.fields(AlertSettings().training)],
        "mqtt": simple_fields(MqttSettings) + simple_fields(OutputOptions),
        "influx": simple_fields(InfluxSettings),
        "store": simple_fields(StoreSettings),
        "web": simple_fields(WebSettings),
        "archive": simple_fields(ArchiveSettings),
        "ble": [f.name for f in dataclasses.fields(DaemonConfig) if f.name != "sensors"],
    }
    for kind in ("posterior_tilt", "forward_head", "prolonged_sitting", "lumbar_bend"):
        tables[f"alerts.{kind}"] = [f.name for f in dataclasses.fields(AlertSettings().for_kind(kind))]
    missing = [f"[{t}] {k}" for t, keys in tables.items() for k in keys if not documented(text, t, k)]
    assert missing == []
    sensor_keys = {f.name for f in dataclasses.fields(SensorConfig)}
    comment = text[text.index("One [[sensors]] entry"):text.index("[[sensors]]\n")]
    assert all(re.search(rf"^#\s+{k}\s", comment, re.M) for k in sensor_keys), comment


@pytest.mark.parametrize(("table", "key"), [
    ("episodes", "tilt_enter"), ("posture", "sitting_thigh"), ("alerts", "daily_cap"),
    ("alerts.quiet_hours", "start"), ("alerts.waking_hours", "end"), ("alerts.escalation", "factor"),
    ("alerts.training", "weeks"), ("mqtt", "keepalive_s"), ("influx", "batch_lines"),
    ("store", "synchronous"), ("ble", "stall_timeout_s"), ("web", "session_days"), ("archive", "row_group_s"),
])
def test_a_typo_in_any_table_is_refused_with_its_name(tmp_path, clean_env, table, key):
    text = EXAMPLE.read_text()
    start = text.index(f"[{table}]\n")
    typo = re.compile(rf"^{key}\s*=", re.M)
    match = typo.search(text, start)
    assert match, f"{key} not set in [{table}]"
    broken = tmp_path / "broken.toml"
    broken.write_text(text[:match.start()] + f"{key}x =" + text[match.end():])
    with pytest.raises(ValueError, match=f"{key}x"):
        load(broken)


def test_sensors_example_documents_the_archive():
    text = (EXAMPLE.parent / "example-sensors.toml").read_text()
    missing = [k for k in simple_fields(ArchiveSettings) if not documented(text, "archive", k)]
    assert missing == []
