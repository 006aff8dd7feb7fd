"""AlertSettings: documented defaults, TOML loading, clear rejection of bad keys and types."""

from __future__ import annotations

import tomllib

import pytest

from posturewatch.alerts.settings import AlertSettings, SettingsError


def test_defaults_match_design():
    s = AlertSettings()
    assert s.posterior_tilt.delay_s == 60 and s.forward_head.delay_s == 60
    assert s.prolonged_sitting.delay_s == 1800 and s.prolonged_sitting.repeat_s == 1800
    assert not s.lumbar_bend.enabled
    assert s.posterior_tilt.postures == ("sitting",)
    assert s.follow_up_windows_s == (60.0, 180.0, 300.0)


def test_every_default_is_in_the_docstring_table():
    import posturewatch.alerts.settings as module

    doc = module.__doc__
    for key, value in AlertSettings().to_mapping().items():
        if isinstance(value, dict):
            for sub in value:
                assert f"{key}.{sub}" in doc, f"{key}.{sub} undocumented"
        else:
            assert key in doc


def test_from_toml_overrides_only_given_keys():
    text = """
    timezone = "Europe/Berlin"
    daily_cap = 5
    [quiet_hours]
    start = "21:30"
    [forward_head]
    cooldown_s = 120
    postures = ["sitting"]
    """
    s = AlertSettings.from_mapping(tomllib.loads(text))
    assert s.timezone == "Europe/Berlin" and s.daily_cap == 5
    assert s.quiet_hours.start == "21:30" and s.quiet_hours.end == "07:00"
    assert s.forward_head.cooldown_s == 120.0 and s.forward_head.postures == ("sitting",)
    assert s.forward_head.delay_s == 60.0
    # a sub-table keeps that kind's own defaults, not the generic ones
    s2 = AlertSettings.from_mapping({"prolonged_sitting": {"cooldown_s": 0}})
    assert s2.prolonged_sitting.repeat_s == 1800 and s2.prolonged_sitting.severity == "info"
    assert AlertSettings.from_mapping(s2.to_mapping()) == s2


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"daily_capp": 3}, "unknown key.*daily_capp"),
        ({"forward_head": {"cooldown": 3}}, r"forward_head: unknown key.*cooldown"),
        ({"daily_cap": "3"}, "daily_cap: expected int, got str"),
        ({"daily_cap": True}, "daily_cap: expected int"),
        ({"posterior_tilt": {"enabled": 1}}, "posterior_tilt.enabled: expected bool"),
        ({"posterior_tilt": {"postures": "sitting"}}, "postures: expected a list"),
        ({"posterior_tilt": {"postures": ["slouching"]}}, "unknown posture 'slouching'"),
        ({"quiet_hours": {"start": "25:00"}}, "quiet_hours.start"),
        ({"quiet_hours": 3}, "quiet_hours: expected a table"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"lumbar_bend": {"delay_s": -1}}, r"lumbar_bend.delay_s must be a finite number ≥ 0"),
        ({"forward_head": {"severity": "loud"}}, "severity must be one of"),
    ],
)
def test_bad_settings_are_rejected_with_the_key_named(mapping, message):
    with pytest.raises(SettingsError, match=message):
        AlertSettings.from_mapping(mapping)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[forward_head]\ncooldown_s = inf", r"forward_head.cooldown_s must be a finite number ≥ 0, got inf"),
        ("[forward_head]\ncooldown_s = nan", r"forward_head.cooldown_s must be a finite number ≥ 0, got nan"),
        ("[prolonged_sitting]\nrepeat_s = +inf", r"prolonged_sitting.repeat_s must be a finite"),
        ("[posterior_tilt]\ndelay_s = -inf", r"posterior_tilt.delay_s must be a finite"),
        ("[posterior_tilt]\ndelay_s = -0.5", r"posterior_tilt.delay_s must be a finite"),
        ("follow_up_windows_s = [60, inf]", "follow_up_windows_s must be finite positive"),
        ("follow_up_windows_s = [nan]", "follow_up_windows_s must be finite positive"),
        ("follow_up_windows_s = [60, -1]", "follow_up_windows_s must be finite positive"),
    ],
)
def test_non_finite_and_negative_durations_in_toml_are_rejected(toml, message):
    with pytest.raises(SettingsError, match=message):
        AlertSettings.from_mapping(tomllib.loads(toml))


def test_budget_escalation_and_training_defaults_and_overrides():
    s = AlertSettings()
    assert s.daily_cap == 12 and s.daily_burst == 2
    assert (s.waking_hours.start, s.waking_hours.end) == ("08:00", "22:00")
    assert s.escalation.enabled and s.escalation.factor == 2.0
    assert s.escalation.ignored_after_s == 300.0 and s.escalation.max_cooldown_s == 7200.0
    assert not s.training.enabled
    text = """
    [escalation]
    factor = 3
    [training]
    enabled = true
    start_date = "2026-01-05"
    """
    s2 = AlertSettings.from_mapping(tomllib.loads(text))
    assert s2.escalation.factor == 3.0 and s2.escalation.max_cooldown_s == 7200.0
    assert s2.training.enabled and s2.training.weeks == 6
    assert AlertSettings.from_mapping(s2.to_mapping()) == s2


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[escalation]\nfactor = nan", r"escalation.factor must be a finite number ≥ 1, got nan"),
        ("[escalation]\nfactor = 0.5", r"escalation.factor must be a finite number ≥ 1"),
        ("[escalation]\nignored_after_s = inf", r"escalation.ignored_after_s must be a finite"),
        ("[escalation]\nmax_cooldown_s = 0", r"escalation.max_cooldown_s must be a finite"),
        ("[escalation]\nfactr = 2", r"escalation: unknown key.*factr"),
        ("[training]\nenabled = true", r"training.start_date is needed"),
        ("[training]\nstart_date = \"5.1.2026\"", r"training.start_date: expected an ISO date"),
        ("[training]\nslumped_goal_pct = nan", r"training.slumped_goal_pct must be a percentage"),
        ("[training]\nsitting_bout_goal_min = 90", r"sitting_bout_goal_min must not exceed"),
        ("[training]\nweeks = 0", r"training.weeks must be ≥ 1"),
        ("[training]\ngoal = 1", r"training: unknown key.*goal"),
    ],
)
def test_bad_escalation_and_training_settings_are_refused(toml, message):
    with pytest.raises(SettingsError, match=message):
        AlertSettings.from_mapping(tomllib.loads(toml))
