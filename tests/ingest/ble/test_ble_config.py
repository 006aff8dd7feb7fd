"""Config loading: a good file parses; every kind of mistake gets a message naming the fix."""

from __future__ import annotations

import pytest

from posturewatch.ingest.ble.config import ConfigError, load_config, parse_config

FAMILIES = ("witmotion", "movesense", "movella_dot", "pwrp")


def test_good_config_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[ble]\nadapter = "hci1"\nscan_timeout_s = 5\n'
                    '[[sensors]]\nlocation = "pelvis"\nfamily = "witmotion"\n'
                    'address = "D4:22:CD:00:11:22"\nrate_hz = 50\n'
                    'mounting = { superior = "x", anterior = "-z" }\n'
                    '[[sensors]]\nlocation = "thigh"\nfamily = "movesense"\nname = "Movesense 1"\n'
                    '[mqtt]\nhost = "ignored here"\n')
    config = load_config(path, FAMILIES)
    assert config.adapter == "hci1" and config.scan_timeout_s == 5.0
    assert [s.location for s in config.sensors] == ["pelvis", "thigh"]
    assert config.sensors[0].rate_hz == 50.0 and config.sensors[0].mounting["anterior"] == "-z"
    assert config.sensors[1].target == "Movesense 1"


def _sensor(**extra):
    base = {"location": "pelvis", "family": "pwrp", "address": "AA:BB:CC:DD:EE:FF"}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "no [[sensors]]"),
        ({"sensors": []}, "empty"),
        ({"sensors": {"pelvis": {}}}, "array of tables"),
        ({"sensors": [_sensor(location="knee")]}, "location must be one of"),
        ({"sensors": [_sensor(family="fitbit")]}, "unknown family 'fitbit'"),
        ({"sensors": [_sensor(address=None)]}, "give an address"),
        ({"sensors": [_sensor(address="nope")]}, "neither a MAC"),
        ({"sensors": [_sensor(rate_hz=-3)]}, "rate_hz must be"),
        ({"sensors": [_sensor(rate_hz=True)]}, "rate_hz must be"),
        ({"sensors": [_sensor(mounting={"superior": "w"})]}, "mounting.superior"),
        ({"sensors": [_sensor(mounting={"superior": "x", "anterior": "-x"})]}, "same sensor axis"),
        ({"sensors": [_sensor(colour="red")]}, "unknown keys ['colour']"),
        ({"sensors": [_sensor(), _sensor(address="AA:BB:CC:DD:EE:00")]}, "two sensors at"),
        ({"sensors": [_sensor(), _sensor(location="thigh")]}, "configured twice"),
        ({"sensors": [_sensor()], "ble": {"scan_timeout_s": 0}}, "positive finite number"),
        ({"sensors": [_sensor()], "ble": {"max_backoff_s": float("nan")}}, "max_backoff_s must be"),
        ({"sensors": [_sensor()], "ble": {"stall_timeout_s": float("nan")}}, "stall_timeout_s must be"),
        ({"sensors": [_sensor()], "ble": {"connect_timeout_s": float("inf")}}, "connect_timeout_s must be"),
        ({"sensors": [_sensor(rate_hz=float("nan"))]}, "rate_hz must be"),
        ({"sensors": [_sensor()], "ble": {"adaptor": "hci0"}}, "unknown keys ['adaptor']"),
        # a rate the family's driver cannot command, with the choices and the way out
        ({"sensors": [_sensor(family="movesense", rate_hz=50)]},
         "movesense has no 50 Hz rate; choose one of 13, 26, 52, 104"),
        ({"sensors": [_sensor(family="witmotion", rate_hz=60)]}, "nominal 50 Hz"),
        ({"sensors": [_sensor(family="movella_dot", rate_hz=100)]}, "movella_dot has no 100 Hz"),
    ],
)
def test_config_mistakes_are_explained(raw, message):
    with pytest.raises(ConfigError) as info:
        parse_config(raw, FAMILIES, source="c.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("c.toml")


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[sensors]\nlocation = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_family_names_come_from_the_registry_and_can_be_narrowed():
    assert parse_config({"sensors": [_sensor(family="pwrp", rate_hz=37.5)]}).sensors[0].rate_hz == 37.5
    with pytest.raises(ConfigError, match=r"unknown family 'pwrp'; supported: \['witmotion'\]"):
        parse_config({"sensors": [_sensor()]}, ("witmotion", "fitbit"))
