"""The BLE daemon's configuration: which sensors to read, where they are worn, how to reach them.

Read from the ``[ble]`` table and the ``[[sensors]]`` array of the TOML config (other tables
belong to other parts and are ignored here)::

    [ble]
    adapter = "hci0"          # optional; the system default adapter otherwise
    scan_timeout_s = 10
    connect_timeout_s = 20
    max_backoff_s = 60

    [[sensors]]
    location = "pelvis"       # pelvis | thigh | thorax | head
    family = "witmotion"      # a supported device family
    address = "D4:22:CD:00:11:22"   # or: name = "WT901BLE68"
    rate_hz = 50              # optional, one the family can be set to; its nominal rate otherwise
    mounting = { superior = "x", anterior = "-z" }   # optional

Every mistake is reported as a :class:`ConfigError` naming the file, the entry and the fix.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from posturewatch.ingest.protocols import driver, family_names
from posturewatch.ingest.records import LOCATIONS

AXES = ("x", "-x", "y", "-y", "z", "-z")
_ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f-]{36}$")
_SENSOR_KEYS = {"location", "family", "address", "name", "rate_hz", "mounting"}
_BLE_KEYS = {"adapter", "scan_timeout_s", "connect_timeout_s", "max_backoff_s", "stall_timeout_s"}


class ConfigError(ValueError):
    """The configuration is wrong; the message says where and how to fix it."""


@dataclass(frozen=True, slots=True)
class SensorConfig:
    location: str
    family: str
    address: str | None = None
    name: str | None = None
    rate_hz: float | None = None
    mounting: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return self.address or self.name or "?"


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    sensors: tuple[SensorConfig, ...]
    adapter: str | None = None
    scan_timeout_s: float = 10.0
    connect_timeout_s: float = 20.0
    max_backoff_s: float = 60.0
    stall_timeout_s: float = 10.0


def load_config(path: str | Path, families: tuple[str, ...] | None = None) -> DaemonConfig:
    """Read and check a TOML config file; ``families`` restricts the accepted family names to
    some of the supported ones (default: every supported family)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, families, source=str(path))


def parse_config(
    raw: dict, families: tuple[str, ...] | None = None, source: str = "config"
) -> DaemonConfig:
    """Check an already-parsed config mapping (see the module docstring for the layout)."""
    ble = raw.get("ble", {})
    if not isinstance(ble, dict):
        raise ConfigError(f"{source}: [ble] must be a table")
    unknown = set(ble) - _BLE_KEYS
    if unknown:
        raise ConfigError(f"{source}: [ble] has unknown keys {sorted(unknown)}; "
                          f"known: {sorted(_BLE_KEYS)}")
    numbers = {}
    for key in ("scan_timeout_s", "connect_timeout_s", "max_backoff_s", "stall_timeout_s"):
        if key in ble:
            value = ble[key]
            # nan/inf would pass "> 0": nan backoff spins the reconnect loop, nan stall never fires
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not (math.isfinite(value) and value > 0)):
                raise ConfigError(f"{source}: [ble] {key} must be a positive finite number, "
                                  f"got {value!r}")
            numbers[key] = float(value)
    adapter = ble.get("adapter")
    if adapter is not None and not isinstance(adapter, str):
        raise ConfigError(f"{source}: [ble] adapter must be a string such as \"hci0\"")

    entries = raw.get("sensors")
    if entries is None:
        raise ConfigError(f"{source}: no [[sensors]] entries; add one per worn sensor")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{source}: 'sensors' must be an array of tables ([[sensors]])")
    if not entries:
        raise ConfigError(f"{source}: [[sensors]] is empty; add one per worn sensor")
    sensors = tuple(
        _sensor(entry, i, families, source) for i, entry in enumerate(entries, start=1)
    )
    _check_unique(sensors, source)
    return DaemonConfig(sensors=sensors, adapter=adapter, **numbers)


def _sensor(entry: dict, index: int, families: tuple[str, ...] | None, source: str) -> SensorConfig:
    where = f"{source}: sensor #{index}"
    unknown = set(entry) - _SENSOR_KEYS
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}; known: {sorted(_SENSOR_KEYS)}")
    location = entry.get("location")
    if location not in LOCATIONS:
        raise ConfigError(f"{where}: location must be one of {list(LOCATIONS)}, got {location!r}")
    where = f"{source}: sensor #{index} ({location})"
    family = entry.get("family")
    supported = [f for f in family_names() if families is None or f in families]
    if not isinstance(family, str) or family not in supported:
        raise ConfigError(f"{where}: unknown family {family!r}; supported: {sorted(supported)}")
    address, name = entry.get("address"), entry.get("name")
    if address is None and name is None:
        raise ConfigError(f"{where}: give an address (\"AA:BB:CC:DD:EE:FF\") or a name")
    if address is not None and (not isinstance(address, str) or not _ADDRESS.match(address)):
        raise ConfigError(f"{where}: address {address!r} is neither a MAC "
                          f"(\"AA:BB:CC:DD:EE:FF\") nor a platform UUID")
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigError(f"{where}: name must be a non-empty string")
    rate = entry.get("rate_hz")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)
                             or not 0 < rate <= 2000):
        raise ConfigError(f"{where}: rate_hz must be a number in (0, 2000], got {rate!r}")
    if rate is not None:
        family_driver = driver(family)
        try:
            family_driver.check_rate(rate)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc} (or leave rate_hz out for its nominal "
                              f"{family_driver.nominal_rate_hz:g} Hz)") from None
    mounting = entry.get("mounting", {})
    if not isinstance(mounting, dict) or set(mounting) - {"superior", "anterior"}:
        raise ConfigError(f"{where}: mounting takes only 'superior' and 'anterior' axes")
    for key, axis in mounting.items():
        if axis not in AXES:
            raise ConfigError(f"{where}: mounting.{key} must be one of {list(AXES)}, got {axis!r}")
    if len(mounting) == 2 and mounting["superior"].strip("-") == mounting["anterior"].strip("-"):
        raise ConfigError(f"{where}: mounting superior and anterior use the same sensor axis")
    return SensorConfig(location, family, address, name,
                        None if rate is None else float(rate), dict(mounting))


def _check_unique(sensors: tuple[SensorConfig, ...], source: str) -> None:
    seen_locations: set[str] = set()
    seen_targets: set[str] = set()
    for sensor in sensors:
        if sensor.location in seen_locations:
            raise ConfigError(f"{source}: two sensors at location {sensor.location!r}")
        target = sensor.target.lower()
        if target in seen_targets:
            raise ConfigError(f"{source}: sensor {sensor.target!r} is configured twice")
        seen_locations.add(sensor.location)
        seen_targets.add(target)
