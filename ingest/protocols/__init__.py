"""Device protocols: pure bytes → sample blocks decoders, one module per device family, and the
driver of each family (how to find, configure, start, stop and read the battery of it).

:mod:`~posturewatch.ingest.protocols.families` is the one registry of families: ``drivers()``,
``driver(name)`` and ``identify(name, service_uuids)`` with its documented precedence.
"""

from __future__ import annotations

from posturewatch.ingest.protocols.base import Decoder
from posturewatch.ingest.protocols.driver import Claim, DeviceDriver
from posturewatch.ingest.protocols.families import (
    PRECEDENCE,
    driver,
    drivers,
    family_names,
    identify,
)
from posturewatch.ingest.protocols.gatt import BATTERY_LEVEL_UUID, normalize_uuid

__all__ = [
    "BATTERY_LEVEL_UUID",
    "PRECEDENCE",
    "Claim",
    "Decoder",
    "DeviceDriver",
    "driver",
    "drivers",
    "family_names",
    "identify",
    "normalize_uuid",
]
