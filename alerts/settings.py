"""Alert settings per user: every default in one place, loadable from a TOML table.

Defaults (all times in seconds; clock times are local, in ``timezone``):

=============================== ============== ==================================================
setting                          default        meaning
=============================== ============== ==================================================
timezone                         "UTC"          IANA zone for quiet hours, "until tomorrow", days
valid_day_wear_h                 10.0           a day counts as valid with this many hours worn
                                                while awake (the daily summary's ``valid_day``)
daily_cap                        12             at most this many alerts per local day (0 = none)
daily_burst                      2              reminders allowed ahead of the even spread
waking_hours.start               "08:00"        the daily budget is spread evenly over this window
waking_hours.end                 "22:00"        (must be later than the start, same day)
escalation.enabled               true           space out a kind the wearer keeps ignoring
escalation.ignored_after_s       300            a reminder not acted on within this is ignored
escalation.factor                2.0            each ignored reminder in a row multiplies the
                                                kind's cooldown by this …
escalation.max_cooldown_s        7200           … up to this; one acted on resets it to base
escalation.context_block_min     120            escalation is per context: the kind and the local
                                                clock block of this many minutes (from midnight)
                                                the reminder falls in; 1440 = per kind only
training.enabled                 false          goals that rise week by week (alerts.training)
training.start_date              ""             ISO date the training began ("" = not started)
training.sitting_bout_start_min  60.0           week-1 goal: sitting bouts at most this long …
training.sitting_bout_goal_min   45.0           … tightened week by week to this
training.slumped_start_pct       40.0           week-1 goal: slumped share of sitting below …
training.slumped_goal_pct        20.0           … tightened to this
training.weeks                   6              weeks from the start goals to the final goals
training.days_to_advance         4              days per week the goal must be met to move on
follow_up_windows_s              (60, 180, 300) "did the wearer break the episode within …" checks
quiet_hours.enabled              true           no alerts inside the window
quiet_hours.start                "22:00"        window start (may wrap past midnight)
quiet_hours.end                  "07:00"        window end
posterior_tilt.enabled           true
posterior_tilt.delay_s           60             after episode start = at confirmation
posterior_tilt.repeat_s          0              0 = one alert per episode
posterior_tilt.cooldown_s        900            min gap between two alerts of this kind
posterior_tilt.postures          ("sitting",)   alert only while the wearer is in one of these
posterior_tilt.severity          "warning"
forward_head.enabled             true
forward_head.delay_s             60             at confirmation
forward_head.repeat_s            0
forward_head.cooldown_s          900
forward_head.postures            ("sitting", "standing")
forward_head.severity            "warning"
prolonged_sitting.enabled        true
prolonged_sitting.delay_s        1800           at 30 min of sitting …
prolonged_sitting.repeat_s       1800           … and every 30 min while the bout lasts
prolonged_sitting.cooldown_s     600
prolonged_sitting.postures       ("sitting",)
prolonged_sitting.severity       "info"
lumbar_bend.enabled              false          optional, off by default
lumbar_bend.delay_s              0              at once (the episode is known when the bend ends)
lumbar_bend.repeat_s             0
lumbar_bend.cooldown_s           300
lumbar_bend.postures             ()             empty = any posture
lumbar_bend.severity             "info"
=============================== ============== ==================================================

A blocked alert (quiet hours, snooze, cooldown, posture, daily budget) stays pending while its
episode is open and goes out once nothing blocks it any more; see ``policy.AlertPolicy``.

Daily budget: at a local time that is a fraction ``f`` through the waking hours, at most
``daily_burst + floor((daily_cap − daily_burst + 1) × f)`` reminders may have gone out that day
(never more than ``daily_cap``, and never more than ``daily_cap × f + daily_burst``), so the
budget lasts the whole waking day instead of running out by mid-morning. With the defaults at
most 4 of the 12 go before 11:00 and the last one becomes available at 20:44.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from posturewatch.alerts.training import TrainingSettings
from posturewatch.analytics.records import EPISODE_KINDS, Posture

SEVERITIES = ("info", "warning", "critical")


class SettingsError(ValueError):
    """A settings mapping that does not fit the schema; the message names the key."""


def _parse_clock(text: str, where: str) -> int:
    """'HH:MM' → minutes after midnight."""
    try:
        hours, minutes = text.split(":")
        h, m = int(hours), int(minutes)
    except ValueError:
        raise SettingsError(f"{where}: expected 'HH:MM', got {text!r}") from None
    if not (0 <= h < 24 and 0 <= m < 60):
        raise SettingsError(f"{where}: {text!r} is not a clock time")
    return h * 60 + m


@dataclass(frozen=True, slots=True)
class QuietHours:
    enabled: bool = True
    start: str = "22:00"
    end: str = "07:00"

    def validate(self, where: str) -> None:
        _parse_clock(self.start, f"{where}.start")
        _parse_clock(self.end, f"{where}.end")

    def contains(self, minute_of_day: int) -> bool:
        if not self.enabled:
            return False
        start = _parse_clock(self.start, "quiet_hours.start")
        end = _parse_clock(self.end, "quiet_hours.end")
        if start == end:
            return False
        if start < end:
            return start <= minute_of_day < end
        return minute_of_day >= start or minute_of_day < end


@dataclass(frozen=True, slots=True)
class WakingHours:
    start: str = "08:00"
    end: str = "22:00"

    def validate(self, where: str) -> None:
        if self.start_minute(where) >= self.end_minute(where):
            raise SettingsError(f"{where}: start {self.start!r} must be before end {self.end!r}")

    def start_minute(self, where: str = "waking_hours") -> int:
        return _parse_clock(self.start, f"{where}.start")

    def end_minute(self, where: str = "waking_hours") -> int:
        return _parse_clock(self.end, f"{where}.end")


@dataclass(frozen=True, slots=True)
class Escalation:
    enabled: bool = True
    ignored_after_s: float = 300.0
    factor: float = 2.0
    max_cooldown_s: float = 7200.0
    context_block_min: float = 120.0

    def validate(self, where: str) -> None:
        block = self.context_block_min
        if not (math.isfinite(block) and 1 <= block <= 1440):
            raise SettingsError(f"{where}.context_block_min must be within 1…1440 minutes, got {block}")
        for name in ("ignored_after_s", "max_cooldown_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise SettingsError(f"{where}.{name} must be a finite number > 0, got {value}")
        if not (math.isfinite(self.factor) and self.factor >= 1):
            raise SettingsError(f"{where}.factor must be a finite number ≥ 1, got {self.factor}")


@dataclass(frozen=True, slots=True)
class KindSettings:
    enabled: bool = True
    delay_s: float = 60.0
    repeat_s: float = 0.0
    cooldown_s: float = 900.0
    postures: tuple[str, ...] = ("sitting",)
    severity: str = "warning"

    def validate(self, where: str) -> None:
        for name in ("delay_s", "repeat_s", "cooldown_s"):
            value = getattr(self, name)
            # NaN compares false with everything and inf never elapses: both would disable alerts
            if not (math.isfinite(value) and value >= 0):
                raise SettingsError(f"{where}.{name} must be a finite number ≥ 0, got {value}")
        for label in self.postures:
            try:
                Posture.from_label(label)
            except ValueError:
                raise SettingsError(f"{where}.postures: unknown posture {label!r}") from None
        if self.severity not in SEVERITIES:
            raise SettingsError(f"{where}.severity must be one of {SEVERITIES}")


def _kind(**overrides) -> KindSettings:
    return KindSettings(**overrides)


@dataclass(frozen=True, slots=True)
class AlertSettings:
    timezone: str = "UTC"
    valid_day_wear_h: float = 10.0
    daily_cap: int = 12
    daily_burst: int = 2
    follow_up_windows_s: tuple[float, ...] = (60.0, 180.0, 300.0)
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    waking_hours: WakingHours = field(default_factory=WakingHours)
    escalation: Escalation = field(default_factory=Escalation)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    posterior_tilt: KindSettings = field(default_factory=KindSettings)
    forward_head: KindSettings = field(
        default_factory=lambda: _kind(postures=("sitting", "standing"))
    )
    prolonged_sitting: KindSettings = field(
        default_factory=lambda: _kind(
            delay_s=1800.0, repeat_s=1800.0, cooldown_s=600.0, severity="info"
        )
    )
    lumbar_bend: KindSettings = field(
        default_factory=lambda: _kind(
            enabled=False, delay_s=0.0, cooldown_s=300.0, postures=(), severity="info"
        )
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"timezone: unknown time zone {self.timezone!r}") from None
        if not (math.isfinite(self.valid_day_wear_h) and 0 <= self.valid_day_wear_h <= 24):
            raise SettingsError(f"valid_day_wear_h must be 0..24 hours, got {self.valid_day_wear_h}")
        if self.daily_cap < 0:
            raise SettingsError(f"daily_cap must be ≥ 0, got {self.daily_cap}")
        if self.daily_burst < 0:
            raise SettingsError(f"daily_burst must be ≥ 0, got {self.daily_burst}")
        windows = self.follow_up_windows_s
        if not windows or any(not (math.isfinite(w) and w > 0) for w in windows):
            raise SettingsError(f"follow_up_windows_s must be finite positive durations, got {windows}")
        self.quiet_hours.validate("quiet_hours")
        self.waking_hours.validate("waking_hours")
        self.escalation.validate("escalation")
        self.training.validate("training", SettingsError)
        for kind in EPISODE_KINDS:
            self.for_kind(kind).validate(kind)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def for_kind(self, kind: str) -> KindSettings:
        if kind not in EPISODE_KINDS:
            raise KeyError(f"unknown episode kind {kind!r}")
        return getattr(self, kind)

    @classmethod
    def from_mapping(cls, mapping: typing.Mapping[str, object]) -> AlertSettings:
        """Build from a (TOML) mapping; missing keys keep their defaults.

        Unknown keys and wrong types raise ``SettingsError`` naming the offending key.
        """
        return _build(cls, mapping, "")

    def to_mapping(self) -> dict[str, object]:
        """The settings as a plain mapping that ``from_mapping`` reads back."""
        return dataclasses.asdict(self)


def _build(cls: type, mapping: object, path: str):
    if not isinstance(mapping, typing.Mapping):
        raise SettingsError(f"{path or 'settings'}: expected a table, got {type(mapping).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise SettingsError(
            f"{path or 'settings'}: unknown key(s) {unknown}; known: {sorted(names)}"
        )
    values = {}
    defaults = cls()
    for name, raw in mapping.items():
        where = f"{path}.{name}" if path else name
        declared = hints[name]
        if dataclasses.is_dataclass(declared):
            # a partial sub-table overrides only its keys, on top of this field's own defaults
            base = dataclasses.asdict(getattr(defaults, name))
            if not isinstance(raw, typing.Mapping):
                raise SettingsError(f"{where}: expected a table, got {type(raw).__name__}")
            _build(declared, raw, where)  # reports unknown keys / types
            values[name] = declared(**{**base, **_coerced_fields(declared, raw, where)})
        else:
            values[name] = _coerce(declared, raw, where)
    try:
        return cls(**values)
    except SettingsError as exc:
        raise SettingsError(f"{path + ': ' if path else ''}{exc}") from None


def _coerced_fields(cls: type, raw: typing.Mapping, path: str) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {name: _coerce(hints[name], value, f"{path}.{name}") for name, value in raw.items()}


def _coerce(declared: object, raw: object, where: str) -> object:
    origin = typing.get_origin(declared)
    if origin is tuple:
        if not isinstance(raw, list | tuple):
            raise SettingsError(f"{where}: expected a list, got {type(raw).__name__}")
        (item_type, _ellipsis) = typing.get_args(declared)
        return tuple(_coerce(item_type, item, f"{where}[{i}]") for i, item in enumerate(raw))
    if origin in (typing.Union, types.UnionType):
        allowed = typing.get_args(declared)
        if raw is None and type(None) in allowed:
            return None
        declared = next(a for a in allowed if a is not type(None))
    if declared is bool:
        ok = isinstance(raw, bool)
    elif declared is int:
        ok = isinstance(raw, int) and not isinstance(raw, bool)
    elif declared is float:
        ok = isinstance(raw, int | float) and not isinstance(raw, bool)
        raw = float(raw) if ok else raw
    elif declared is str:
        ok = isinstance(raw, str)
    else:
        ok = isinstance(raw, declared)  # type: ignore[arg-type]
    if not ok:
        name = getattr(declared, "__name__", str(declared))
        raise SettingsError(f"{where}: expected {name}, got {type(raw).__name__} {raw!r}")
    return raw
