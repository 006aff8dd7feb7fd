"""GATT vocabulary shared by the decoders, the device drivers and the BLE link.

UUIDs are compared in one canonical form (lower-case, 128-bit), and the one standard
characteristic several families share, the Bluetooth SIG Battery Level, is named here.
"""

from __future__ import annotations

_SIG_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"

BATTERY_LEVEL_UUID = f"00002a19{_SIG_BASE_SUFFIX}"
"""Standard Bluetooth SIG Battery Level characteristic (u8 percent, 0–100)."""


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
