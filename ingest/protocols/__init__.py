"""Device protocol decoders: pure bytes → sample blocks, one module per device family.

``FAMILIES`` maps a family name to its decoder class (whose ``profile`` says how to find, start
and read the device); ``identify`` tells which family an advertisement belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence

from posturewatch.ingest.protocols.base import Decoder
from posturewatch.ingest.protocols.movella_dot import MovellaDotDecoder
from posturewatch.ingest.protocols.movesense import MovesenseDecoder
from posturewatch.ingest.protocols.pwrp import PwrpDecoder
from posturewatch.ingest.protocols.witmotion import WitMotionDecoder

FAMILIES: dict[str, type[Decoder]] = {
    cls.profile.family: cls
    for cls in (WitMotionDecoder, MovesenseDecoder, MovellaDotDecoder, PwrpDecoder)
}

_SIG_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"


def normalize_uuid(uuid: str) -> str:
    """Lower-case 128-bit form; a 16- or 32-bit short form is expanded on the Bluetooth SIG base.

    (WitMotion's own ``…-00805f9a34fb`` base differs from the SIG one: its UUIDs are always
    written out in full, so they never go through this expansion.)
    """
    text = uuid.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if len(text) in (4, 8) and all(c in "0123456789abcdef" for c in text):
        return f"{int(text, 16):08x}{_SIG_BASE_SUFFIX}"
    return text


def identify(name: str | None, service_uuids: Sequence[str]) -> str | None:
    """The family an advertisement belongs to, or None when it is no sensor we support.

    An advertised service UUID is decisive; the local name (which bleak may report as None) is
    the fallback, since WitMotion and some Movesense firmware do not advertise their service.
    """
    advertised = {normalize_uuid(u) for u in service_uuids}
    for family, cls in FAMILIES.items():
        if advertised & {normalize_uuid(u) for u in cls.profile.service_uuids}:
            return family
    if name:
        for family, cls in FAMILIES.items():
            if name.startswith(cls.profile.name_prefixes):
                return family
    return None


__all__ = ["FAMILIES", "Decoder", "identify", "normalize_uuid"]
