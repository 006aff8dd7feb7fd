"""The supported device families: one driver each, in one registry with one ``identify``.

Every part that needs to know about families asks here: ``posturewatch scan`` (which family
an advertisement is), the config parser (which family names and rates exist), the BLE link (how
to drive a sensor) and the emulators (one per registered family).

Which family an advertisement belongs to, when more than one could claim it:

1. An advertised service UUID beats a local name (a name is easy to copy; a 128-bit service is
   a deliberate statement), so a DIY board named ``WT901-clone`` that advertises the PWRP
   service is a PWRP sensor.
2. Between two claims of the same kind, the family listed first in :data:`PRECEDENCE` wins:
   PWRP (our own service, which a device only advertises on purpose), Movesense, Movella DOT,
   then WitMotion (matched mostly by name; its service is often not advertised at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from posturewatch.ingest.protocols import movella_dot, movesense, pwrp, witmotion
from posturewatch.ingest.protocols.base import GattWrite
from posturewatch.ingest.protocols.driver import (
    Advertised,
    BatterySource,
    Claim,
    DeviceDriver,
)
from posturewatch.ingest.protocols.gatt import BATTERY_LEVEL_UUID
from posturewatch.ingest.protocols.movella_dot import MovellaDotDecoder
from posturewatch.ingest.protocols.movesense import MovesenseDecoder
from posturewatch.ingest.protocols.pwrp import PwrpDecoder
from posturewatch.ingest.protocols.witmotion import WitMotionDecoder


class PwrpDriver(DeviceDriver[PwrpDecoder]):
    """Our reference protocol: the info characteristic says what the frames mean; the device
    picks the rate nearest to the one asked for and reports it in the info."""

    family = "pwrp"
    advertised = Advertised(name_prefixes=("PWRP",), service_uuids=(pwrp.SERVICE_UUID,))
    nominal_rate_hz = 50.0
    rates_hz = None
    battery = BatterySource(chars=(BATTERY_LEVEL_UUID,))

    def new_decoder(self, rate_hz: float | None = None) -> PwrpDecoder:
        return PwrpDecoder()

    def notify_uuids(self, decoder: PwrpDecoder) -> tuple[str, ...]:
        # the device notifies its info after every START and answers commands on the control
        # point, so all three go to the decoder
        return (pwrp.INFO_UUID, pwrp.CONTROL_UUID, pwrp.DATA_UUID)

    def rate_writes(self, rate_hz: float | None) -> tuple[GattWrite, ...]:
        return () if rate_hz is None else (pwrp.set_rate_write(rate_hz),)

    def config_reads(self) -> tuple[str, ...]:
        return (pwrp.INFO_UUID,)

    def start_writes(self, decoder: PwrpDecoder) -> tuple[GattWrite, ...]:
        return (pwrp.start_write(),)

    def stop_writes(self, decoder: PwrpDecoder) -> tuple[GattWrite, ...]:
        return (pwrp.stop_write(),)

    def battery_from_decoder(self, decoder: PwrpDecoder) -> float | None:
        return None


class MovesenseDriver(DeviceDriver[MovesenseDecoder]):
    """Movesense over GSP, on either of its two GATT variants: the rate is part of the
    subscribed measurement path, so it is set by the subscription itself."""

    family = "movesense"
    advertised = Advertised(
        name_prefixes=("Movesense",),
        service_uuids=(movesense.SERVICE_UUID, movesense.FDF3_SERVICE_UUID),
    )
    nominal_rate_hz = 52.0
    rates_hz = tuple(float(r) for r in movesense.RATES_HZ)
    battery = BatterySource(chars=(BATTERY_LEVEL_UUID,))

    def new_decoder(self, rate_hz: float | None = None) -> MovesenseDecoder:
        rate = int(self.rate_hz(rate_hz))
        return MovesenseDecoder(path=movesense.measurement_path("IMU9", rate))

    def notify_uuids(self, decoder: MovesenseDecoder) -> tuple[str, ...]:
        return (movesense.DATA_UUID, movesense.FDF3_DATA_UUID)

    def rate_writes(self, rate_hz: float | None) -> tuple[GattWrite, ...]:
        return ()

    def config_reads(self) -> tuple[str, ...]:
        return ()

    def start_writes(self, decoder: MovesenseDecoder) -> tuple[GattWrite, ...]:
        return movesense.subscribe_writes(decoder.ref, decoder.path)

    def stop_writes(self, decoder: MovesenseDecoder) -> tuple[GattWrite, ...]:
        return movesense.unsubscribe_writes(decoder.ref)

    def battery_from_decoder(self, decoder: MovesenseDecoder) -> float | None:
        return None


class MovellaDotDriver(DeviceDriver[MovellaDotDecoder]):
    """Movella (Xsens) DOT real-time streaming; the output rate is set through device control
    before measuring starts; the battery is in the vendor's own service."""

    family = "movella_dot"
    advertised = Advertised(
        name_prefixes=("Movella DOT", "Xsens DOT"),
        service_uuids=(movella_dot.MEASUREMENT_SERVICE_UUID, movella_dot.CONFIG_SERVICE_UUID),
    )
    nominal_rate_hz = 60.0
    rates_hz = tuple(float(r) for r in movella_dot.OUTPUT_RATES_HZ)
    battery = BatterySource(chars=(BATTERY_LEVEL_UUID, movella_dot.BATTERY_UUID))

    def new_decoder(self, rate_hz: float | None = None) -> MovellaDotDecoder:
        return MovellaDotDecoder()

    def notify_uuids(self, decoder: MovellaDotDecoder) -> tuple[str, ...]:
        return (decoder.notify_uuid,)

    def rate_writes(self, rate_hz: float | None) -> tuple[GattWrite, ...]:
        return () if rate_hz is None else (movella_dot.output_rate_write(int(rate_hz)),)

    def config_reads(self) -> tuple[str, ...]:
        return ()

    def start_writes(self, decoder: MovellaDotDecoder) -> tuple[GattWrite, ...]:
        return (movella_dot.start_write(decoder.mode.mode_id),)

    def stop_writes(self, decoder: MovellaDotDecoder) -> tuple[GattWrite, ...]:
        return (movella_dot.stop_write(decoder.mode.mode_id),)

    def battery_from_decoder(self, decoder: MovellaDotDecoder) -> float | None:
        percent = decoder.battery_percent
        return None if percent is None else float(percent)


class WitMotionDriver(DeviceDriver[WitMotionDecoder]):
    """WitMotion BLE 5.0: streams as soon as notifications are on, at a rate that must be set
    after every power cycle; the battery is a register read answered inside the stream."""

    family = "witmotion"
    advertised = Advertised(
        name_prefixes=("WT901", "WT9011", "BWT901"), service_uuids=(witmotion.SERVICE_UUID,)
    )
    nominal_rate_hz = witmotion.NOMINAL_RATE_HZ
    rates_hz = tuple(sorted(witmotion.RATE_CODES))
    battery = BatterySource(poll_writes=(witmotion.read_register_write(witmotion.REG_BATTERY),))

    def new_decoder(self, rate_hz: float | None = None) -> WitMotionDecoder:
        return WitMotionDecoder()

    def notify_uuids(self, decoder: WitMotionDecoder) -> tuple[str, ...]:
        return (witmotion.NOTIFY_UUID,)

    def rate_writes(self, rate_hz: float | None) -> tuple[GattWrite, ...]:
        # the sensor boots at 10 Hz, so even the nominal rate must be commanded
        return witmotion.rate_command_sequence(self.rate_hz(rate_hz))

    def config_reads(self) -> tuple[str, ...]:
        return ()

    def start_writes(self, decoder: WitMotionDecoder) -> tuple[GattWrite, ...]:
        # the magnetometer's scale depends on its chip type (register 0x72)
        return (witmotion.read_register_write(witmotion.REG_MAG_CHIP),
                witmotion.read_register_write(witmotion.REG_BATTERY))

    def stop_writes(self, decoder: WitMotionDecoder) -> tuple[GattWrite, ...]:
        return ()  # it streams while notifications are on; closing the link stops it

    def battery_from_decoder(self, decoder: WitMotionDecoder) -> float | None:
        raw = decoder.registers.get(witmotion.REG_BATTERY)
        return None if raw is None else float(witmotion.battery_percent(raw & 0xFFFF))


PRECEDENCE: tuple[DeviceDriver, ...] = (
    PwrpDriver(), MovesenseDriver(), MovellaDotDriver(), WitMotionDriver()
)
"""Every supported family's driver, in the order that settles a tie between two claims."""

_BY_NAME: Mapping[str, DeviceDriver] = MappingProxyType({d.family: d for d in PRECEDENCE})


def drivers() -> Mapping[str, DeviceDriver]:
    """Every family's driver by family name, in :data:`PRECEDENCE` order."""
    return _BY_NAME


def family_names() -> tuple[str, ...]:
    """The supported family names, in :data:`PRECEDENCE` order."""
    return tuple(_BY_NAME)


def driver(family: str) -> DeviceDriver:
    """The named family's driver; KeyError naming the supported families otherwise."""
    try:
        return _BY_NAME[family]
    except (KeyError, TypeError):
        raise KeyError(f"unknown device family {family!r}; supported: {sorted(_BY_NAME)}") from None


def identify(name: str | None, service_uuids: Sequence[str] = ()) -> DeviceDriver | None:
    """The driver of the family an advertisement belongs to, None when it is no sensor we
    support. ``name`` is the local name (bleak may report None); see the module docstring for
    which family wins when several could claim it."""
    best: DeviceDriver | None = None
    best_claim = 0
    for candidate in PRECEDENCE:
        claim = candidate.claim(name, service_uuids)
        if claim is not None and claim > best_claim:
            best, best_claim = candidate, claim
    return best


__all__ = [
    "PRECEDENCE",
    "Claim",
    "DeviceDriver",
    "MovellaDotDriver",
    "MovesenseDriver",
    "PwrpDriver",
    "WitMotionDriver",
    "driver",
    "drivers",
    "family_names",
    "identify",
]
