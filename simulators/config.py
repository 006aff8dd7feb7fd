"""Configuration of the synthetic wearer: who wears what, at which rate, with which impairments.

``WearerConfig`` says what to simulate (duration, seed, sensors, rates, flips); ``Realism`` says
which real-world impairments are applied to the recorded sensor streams and how strongly; ``Wear``
says which parts of real everyday wear the plan contains (nights in bed, naps, sensors taken off,
short bouts, ...; all off by default). The body's motion depends only on ``seed``, ``hours`` (or
``days``), ``start`` and ``wear``, never on the sensor options, so the same seed with ``--head`` or
``--ideal`` gives the same day of movement.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime

from posturewatch.ingest.records import LOCATIONS

DEFAULT_START = "2026-01-05T08:00:00Z"
DEFAULT_LOCATIONS: tuple[str, ...] = ("pelvis", "thigh", "thorax")
FLIP_KINDS: tuple[str, ...] = ("upside_down", "inside_out", "both")
SLIP_WHILE: tuple[str, ...] = ("moving", "seated")
MAX_RATE_HZ = 500.0  # jittered timestamps must stay strictly increasing at 1 ms resolution


@dataclass(frozen=True, slots=True)
class Realism:
    """Impairments of the recorded streams; every one can be switched off on its own."""

    noise: bool = True
    acc_noise: float = 0.03  # m/s², white, per axis
    gyro_noise: float = 0.004  # rad/s, white, per axis
    mag_noise: float = 0.3  # µT, white, per axis
    gyro_bias: bool = True
    gyro_bias_max: float = 0.02  # rad/s, constant part, uniform per axis
    gyro_bias_walk: float = 2e-5  # rad/s per sqrt(s): slow random-walk drift of the bias
    misalignment: bool = True
    misalignment_max_deg: float = 10.0
    slip: bool = True
    slip_deg: float = 10.0
    slip_while: str = "moving"  # "moving": in a walk or getting up; "seated": in a long seated stretch
    clock: bool = True
    clock_offset_max_s: float = 0.2
    clock_drift_max_ppm: float = 50.0
    jitter: bool = True
    jitter_sigma_s: float = 0.003
    packet_loss: bool = True
    packet_loss_fraction: float = 0.01
    loss_burst_min_s: float = 0.05
    loss_burst_max_s: float = 2.0
    dropout: bool = True
    dropout_min_s: float = 20.0
    dropout_max_s: float = 60.0

    def __post_init__(self) -> None:
        if self.slip_while not in SLIP_WHILE:
            raise ValueError(f"slip_while must be one of {SLIP_WHILE}, got {self.slip_while!r}")

    @classmethod
    def ideal(cls) -> Realism:
        """Every impairment off: exact signals on the nominal grid."""
        switches = {f.name: False for f in fields(cls) if f.type in ("bool", bool)}
        return cls(**switches)

    def switches(self) -> dict[str, bool]:
        """Which impairments are on, by name."""
        return {k: v for k, v in asdict(self).items() if isinstance(v, bool)}


@dataclass(frozen=True, slots=True)
class Wear:
    """Real everyday wear beyond the office day; every part is off by default.

    ``nights`` needs ``WearerConfig.days`` (whole days of 24 h with a night in bed each);
    the others also work in a single day of ``hours``.
    """

    nights: bool = False  # in bed at night: turning, awakenings out of bed, semi-reclined reading
    naps: bool = False  # a daytime nap, flat or semi-reclined
    nonwear: bool = False  # sensors taken off and put down (table, chair, charger, bag)
    seated_off: bool = False  # one sensor put on the desk or chair while the wearer sits on
    reattach_flips: bool = False  # put back on upside down / inside out after a non-wear period
    short_bouts: bool = False  # 3–10 s bouts of sitting, standing up and lying on a bed
    seated_slip: bool = False  # a sensor slips while seated (besides the walking slip)
    breathing: bool = False  # breathing sways the trunk while worn (never while off the body)
    acc_bias_drift: float = 0.002  # m/s² per sqrt(hour): accelerometer bias walk with non-wear on

    @classmethod
    def everything(cls) -> Wear:
        """Every part of real wear on."""
        return cls(**{f.name: True for f in fields(cls) if f.type in ("bool", bool)})

    def switches(self) -> dict[str, bool]:
        """Which parts of real wear are on, by name."""
        return {k: v for k, v in asdict(self).items() if isinstance(v, bool)}

    @property
    def any(self) -> bool:
        return any(self.switches().values())


@dataclass(frozen=True, slots=True)
class WearerConfig:
    """What to simulate. ``start`` is Unix seconds (see ``parse_start`` for ISO strings).

    ``days`` > 0 makes a multi-day recording of ``days`` × 24 h (``hours`` is then set to match)
    and switches ``wear.nights`` on.
    """

    hours: float = 8.0
    seed: int = 0
    start: float = field(default_factory=lambda: parse_start(DEFAULT_START))
    rate: float = 100.0
    rates: dict[str, float] = field(default_factory=dict)
    locations: tuple[str, ...] = DEFAULT_LOCATIONS
    head: bool = False
    acc_only: tuple[str, ...] = ()
    mag: bool = False
    flips: dict[str, str] = field(default_factory=dict)
    realism: Realism = field(default_factory=Realism)
    days: int = 0
    wear: Wear = field(default_factory=Wear)

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int) or not 0 <= self.days <= 31:
            raise ValueError(f"days must be a whole number within 0..31, got {self.days!r}")
        if self.days:
            object.__setattr__(self, "hours", 24.0 * self.days)
            if not self.wear.nights:
                object.__setattr__(self, "wear", replace(self.wear, nights=True))
        elif self.wear.nights:
            raise ValueError("nights in bed need whole days: give days (--days N)")
        if not (math.isfinite(self.hours) and self.hours > 0):
            raise ValueError(f"hours must be a positive finite number, got {self.hours}")
        if not math.isfinite(self.start):
            raise ValueError(f"start must be a finite Unix time, got {self.start}")
        if not self.sensor_locations:
            raise ValueError("no sensor to simulate: give at least one location")
        for loc in self.locations:
            if loc not in LOCATIONS:
                raise ValueError(f"unknown location {loc!r}; expected one of {LOCATIONS}")
        if len(set(self.locations)) != len(self.locations):
            raise ValueError(f"duplicate locations in {self.locations}")
        for loc in (*self.rates, *self.acc_only, *self.flips):
            if loc not in self.sensor_locations:
                raise ValueError(f"{loc!r} is not among the simulated sensors {self.sensor_locations}")
        for loc in self.sensor_locations:
            r = self.rate_of(loc)
            if not 1.0 <= r <= MAX_RATE_HZ:
                raise ValueError(f"rate of {loc} must be within 1..{MAX_RATE_HZ:g} Hz, got {r}")
        for loc, kind in self.flips.items():
            if kind not in FLIP_KINDS:
                raise ValueError(f"flip of {loc} must be one of {FLIP_KINDS}, got {kind!r}")

    @property
    def sensor_locations(self) -> tuple[str, ...]:
        """Every simulated sensor, in location order (the head last when enabled)."""
        wanted = set(self.locations) | ({"head"} if self.head else set())
        return tuple(loc for loc in LOCATIONS if loc in wanted)

    @property
    def has_head(self) -> bool:
        """Whether a head sensor is simulated (``head=True`` or "head" in ``locations``)."""
        return "head" in self.sensor_locations

    @property
    def duration_s(self) -> float:
        return self.hours * 3600.0

    @property
    def end(self) -> float:
        return self.start + self.duration_s

    def rate_of(self, location: str) -> float:
        return float(self.rates.get(location, self.rate))

    def with_realism(self, **changes: object) -> WearerConfig:
        """A copy with some ``Realism`` fields changed."""
        return replace(self, realism=replace(self.realism, **changes))


def parse_start(text: str | float | datetime) -> float:
    """Unix seconds from an ISO 8601 date-time (``Z`` or offset; naive means UTC) or a number."""
    if isinstance(text, int | float):
        return float(text)
    if isinstance(text, datetime):
        dt = text
    else:
        try:
            dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"start must be an ISO date-time like {DEFAULT_START}, got {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def parse_location_map(text: str, what: str) -> dict[str, str]:
    """``"thigh=200,pelvis=20"`` → ``{"thigh": "200", "pelvis": "20"}`` with clear errors."""
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        loc, sep, value = item.partition("=")
        if not sep or not loc.strip() or not value.strip():
            raise ValueError(f"{what}: expected LOCATION=VALUE, got {item!r}")
        out[loc.strip()] = value.strip()
    return out


def parse_rates(text: str) -> dict[str, float]:
    """Per-location rates from ``"thigh=200,pelvis=20"``."""
    out = {}
    for loc, value in parse_location_map(text, "--rates").items():
        try:
            out[loc] = float(value)
        except ValueError:
            raise ValueError(f"--rates: {loc} rate {value!r} is not a number") from None
    return out


def parse_locations(text: str) -> tuple[str, ...]:
    """``"pelvis,thigh"`` → ``("pelvis", "thigh")``."""
    return tuple(p.strip() for p in text.split(",") if p.strip())
