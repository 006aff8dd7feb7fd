"""Which decoder, profile and battery source belongs to each supported device family.

Decoders live in ``posturewatch.ingest.protocols``; every module there with a ``Decoder``
subclass carrying a ``profile`` is a family, found by name so a new protocol needs no edit here.
What the decoders do not describe (where the battery level is, the writes that set a rate) is
filled in from the module's own helpers when it has them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from posturewatch.ingest.protocols.base import Decoder, DeviceProfile, GattWrite


@dataclass(frozen=True)
class Family:
    """One supported device family and how the daemon drives it."""

    name: str
    decoder_class: type[Decoder]
    module: ModuleType

    @property
    def profile(self) -> DeviceProfile:
        return self.decoder_class.profile

    def new_decoder(self, rate_hz: float | None = None) -> Decoder:
        """A decoder for this family, set up for the configured rate where the wire needs it."""
        path_for = getattr(self.module, "measurement_path", None)
        if rate_hz is not None and path_for is not None:  # Movesense: the rate is in the path
            return self.decoder_class(path=path_for("IMU9", int(rate_hz)))
        return self.decoder_class()

    def rate_writes(self, rate_hz: float | None) -> tuple[GattWrite, ...]:
        """Writes that set a configured rate (before streaming starts); () for the default."""
        if rate_hz is None:
            return ()
        if (sequence := getattr(self.module, "rate_command_sequence", None)) is not None:
            return tuple(sequence(rate_hz))
        if (output_rate := getattr(self.module, "output_rate_write", None)) is not None:
            return (output_rate(int(rate_hz)),)
        if (set_rate := getattr(self.module, "set_rate_write", None)) is not None:
            return (set_rate(rate_hz),)
        return ()

    def config_reads(self) -> tuple[str, ...]:
        """Characteristics whose value the decoder must see before data (PWRP's info)."""
        info = getattr(self.module, "INFO_UUID", None)
        return (info,) if isinstance(info, str) else ()

    def start_writes(self, decoder: Decoder, rate_hz: float | None) -> tuple[GattWrite, ...]:
        """The writes that start streaming, minus a default rate sequence a configured rate
        replaces."""
        own = getattr(decoder, "start_writes", None)
        writes = tuple(own()) if callable(own) else self.profile.start_writes
        sequence = getattr(self.module, "rate_command_sequence", None)
        if rate_hz is not None and sequence is not None:
            default = set(sequence(self.profile.nominal_rate_hz))
            writes = tuple(w for w in writes if w not in default)
        return writes

    def rate_hz(self, configured: float | None) -> float:
        return float(configured) if configured else float(self.profile.nominal_rate_hz)

    @property
    def battery_char(self) -> str | None:
        """A vendor characteristic holding the battery percent in its first byte (Movella DOT
        keeps it in its own service: u8 percent, u8 charging)."""
        uuid = getattr(self.module, "BATTERY_UUID", None)
        return uuid if isinstance(uuid, str) else None

    def poll_writes(self) -> tuple[GattWrite, ...]:
        """Writes that make the device report its battery in the notification stream."""
        poll = getattr(self.module, "poll_writes", None)
        return tuple(poll()) if poll else ()

    def battery_from_decoder(self, decoder: Decoder) -> float | None:
        """The battery percent the decoder picked up from the stream, if any."""
        percent = getattr(decoder, "battery_percent", None)
        if isinstance(percent, int | float):
            return float(percent)
        volts = getattr(decoder, "battery_volts", None)
        to_percent = getattr(self.module, "battery_percent", None)
        if isinstance(volts, int | float) and callable(to_percent):
            return float(to_percent(round(volts * 100)))
        return None

    def matches(self, name: str | None, service_uuids: tuple[str, ...] = ()) -> bool:
        """Whether an advertisement looks like this family (by name prefix or service UUID)."""
        if name and any(name.startswith(p) for p in self.profile.name_prefixes):
            return True
        wanted = {u.lower() for u in self.profile.service_uuids}
        return any(u.lower() in wanted for u in service_uuids)


@cache
def families() -> dict[str, Family]:
    """Every family with a decoder in ``posturewatch.ingest.protocols``, by family name."""
    package = importlib.import_module("posturewatch.ingest.protocols")
    found: dict[str, Family] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, Decoder)
                and obj is not Decoder
                and not inspect.isabstract(obj)
                and obj.__module__ == module.__name__
                and isinstance(getattr(obj, "profile", None), DeviceProfile)
            ):
                found.setdefault(obj.profile.family, Family(obj.profile.family, obj, module))
    return found


def family(name: str) -> Family:
    """The named family; KeyError with the supported names otherwise."""
    known = families()
    if name not in known:
        raise KeyError(f"unknown device family {name!r}; supported: {sorted(known)}")
    return known[name]


def identify(name: str | None, service_uuids: tuple[str, ...] = ()) -> Family | None:
    """The family an advertisement belongs to, or None when it is not a supported sensor."""
    for fam in families().values():
        if fam.matches(name, service_uuids):
            return fam
    return None
