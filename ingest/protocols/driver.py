"""The interface every device family implements once: how the daemon finds, configures, starts,
stops and reads the battery of one kind of sensor.

A driver is pure, like a decoder: it says which GATT operations to do and what their answers
mean, and the BLE link (``posturewatch.ingest.ble``) carries them out on whatever backend it has,
a real adapter or the emulators, the way bleak puts every platform behind one client. One driver
instance serves every sensor of its family; what belongs to one sensor lives in the decoder the
driver makes for it, which the connection-time methods take as their argument.

A connection runs the driver's steps in this order: enable notifications on
:meth:`DeviceDriver.notify_uuids`, send :meth:`DeviceDriver.rate_writes`, read
:meth:`DeviceDriver.config_reads` into the decoder, send :meth:`DeviceDriver.start_writes`; a
clean close sends :meth:`DeviceDriver.stop_writes`. Writes to a characteristic the peer lacks
are skipped (a family with two GATT variants lists the writes of both).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Generic, TypeVar

from posturewatch.ingest.protocols.base import Decoder, GattWrite
from posturewatch.ingest.protocols.gatt import normalize_uuid


class Claim(IntEnum):
    """How strongly an advertisement says it belongs to a family; the stronger claim wins."""

    NAME = 1  # the local name starts with one of the family's prefixes
    SERVICE = 2  # one of the family's service UUIDs is advertised


@dataclass(frozen=True, slots=True)
class Advertised:
    """What a family's sensors show in a scan: local-name prefixes and service UUIDs."""

    name_prefixes: tuple[str, ...]
    service_uuids: tuple[str, ...]

    def claim(self, name: str | None, service_uuids: Sequence[str]) -> Claim | None:
        """The strongest claim this advertisement gives the family, None when it gives none.

        A service UUID is stronger than a name: anyone can name a device ``WT901…``, but
        advertising a vendor's (or our) 128-bit service is a deliberate statement.
        """
        advertised = {normalize_uuid(u) for u in service_uuids}
        if advertised & {normalize_uuid(u) for u in self.service_uuids}:
            return Claim.SERVICE
        if name and name.startswith(self.name_prefixes):
            return Claim.NAME
        return None


@dataclass(frozen=True, slots=True)
class BatterySource:
    """Where a family keeps its battery level.

    ``chars``: GATT characteristics to read, in order of preference (the first the peer has is
    read; its first byte is the percent). ``poll_writes``: for a family without one, the writes
    that make the device report its battery inside the data stream, where the decoder picks it
    up (see :meth:`DeviceDriver.battery_from_decoder`).
    """

    chars: tuple[str, ...] = ()
    poll_writes: tuple[GattWrite, ...] = ()


D = TypeVar("D", bound=Decoder)


class DeviceDriver(ABC, Generic[D]):
    """Everything the daemon needs to know to drive one device family (see the module docstring).

    Subclasses declare the class attributes and implement every abstract method; nothing else
    is looked up on them.
    """

    family: ClassVar[str]
    """The family's name in configs, status and scan output."""
    advertised: ClassVar[Advertised]
    nominal_rate_hz: ClassVar[float]
    """The sample rate used when the config sets none."""
    rates_hz: ClassVar[tuple[float, ...] | None]
    """The rates the device can be commanded to; None when it takes any rate and picks the
    nearest it supports itself."""
    battery: ClassVar[BatterySource]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.family}>"

    # ------------------------------------------------------------ identity
    def claim(self, name: str | None, service_uuids: Sequence[str] = ()) -> Claim | None:
        """How strongly an advertisement (local name, service UUIDs) looks like this family."""
        return self.advertised.claim(name, service_uuids)

    # --------------------------------------------------------------- rates
    def check_rate(self, rate_hz: float) -> None:
        """ValueError naming the choices when the device cannot be commanded to ``rate_hz``."""
        if self.rates_hz is not None and float(rate_hz) not in self.rates_hz:
            choices = ", ".join(f"{r:g}" for r in self.rates_hz)
            raise ValueError(f"{self.family} has no {rate_hz:g} Hz rate; choose one of {choices}")

    def rate_hz(self, configured: float | None) -> float:
        """The rate a sensor streams at: the configured one, else the nominal."""
        return float(configured) if configured else float(self.nominal_rate_hz)

    # ------------------------------------------------------------- session
    @abstractmethod
    def new_decoder(self, rate_hz: float | None = None) -> D:
        """A fresh decoder for one sensor, set up for the configured rate where the wire needs it."""

    @abstractmethod
    def notify_uuids(self, decoder: D) -> tuple[str, ...]:
        """Characteristics whose notifications carry this sensor's data (and replies)."""

    @abstractmethod
    def rate_writes(self, rate_hz: float | None) -> tuple[GattWrite, ...]:
        """Writes that set the sample rate before streaming starts (``None``: the nominal one,
        for a device that needs telling); () when the rate is not set by a write."""

    @abstractmethod
    def config_reads(self) -> tuple[str, ...]:
        """Characteristics whose value the decoder must see before data arrives."""

    @abstractmethod
    def start_writes(self, decoder: D) -> tuple[GattWrite, ...]:
        """Writes that start streaming what ``decoder`` expects."""

    @abstractmethod
    def stop_writes(self, decoder: D) -> tuple[GattWrite, ...]:
        """Writes that stop the stream ``start_writes`` started (() when closing the link is
        the only way)."""

    # ------------------------------------------------------------- battery
    def battery_percent(self, char_uuid: str, data: bytes) -> float | None:
        """The percent in a value read from one of ``battery.chars``; None when it is no
        plausible level. Every family so far keeps a u8 percent in the first byte."""
        if not data or data[0] > 100:
            return None
        return float(data[0])

    @abstractmethod
    def battery_from_decoder(self, decoder: D) -> float | None:
        """The battery percent the decoder picked up from the stream, None when it has none."""
