"""The one way the daemon and ``posturewatch scan`` learn a sensor's battery level.

A family either keeps the level in a GATT characteristic (read directly) or reports it inside
its data stream when asked (WitMotion's register read), in which case the answer reaches the
decoder that reads the stream. :func:`read_battery` handles both, for a running session (the
link's decoder is fed by the link) and for a one-off look (it listens with a decoder of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from posturewatch.ingest.ble.client import BleClient, BleError, normalize_uuid, send_writes
from posturewatch.ingest.protocols.base import Decoder
from posturewatch.ingest.protocols.driver import DeviceDriver

log = logging.getLogger(__name__)

ONE_OFF_WAIT_S = 2.0


async def read_battery(
    client: BleClient,
    driver: DeviceDriver,
    decoder: Decoder | None = None,
    *,
    wait_s: float = ONE_OFF_WAIT_S,
) -> float | None:
    """The sensor's battery percent, None when it cannot be known (yet).

    The first of the family's battery characteristics the peer has is read. A family without
    one is sent the writes that make it report the level in its stream: with the session's
    ``decoder`` (which the caller keeps feeding) the answer arrives later, and what the decoder
    already knows is returned; without one, the data characteristics are listened to with a
    decoder of this call's own for up to ``wait_s``. Raises :class:`BleError` when a GATT
    operation fails.
    """
    for uuid in driver.battery.chars:
        if client.has(uuid):
            data = await client.read_gatt_char(uuid)
            percent = driver.battery_percent(normalize_uuid(uuid), data)
            if percent is None:
                log.info("%s: implausible battery value %s from %s", client.address, data.hex(), uuid)
            return percent
    polls = tuple(w for w in driver.battery.poll_writes if client.has(w.char_uuid))
    if not polls:
        return None
    if decoder is not None:
        await send_writes(client, polls)
        return driver.battery_from_decoder(decoder)
    return await _poll_once(client, driver, polls, wait_s)


async def _poll_once(client: BleClient, driver: DeviceDriver, polls, wait_s: float) -> float | None:
    """Listen to the stream with a fresh decoder just long enough for the battery answer."""
    decoder = driver.new_decoder()
    answered = asyncio.Event()

    def on_notify(char_uuid: str, data: bytes) -> None:
        try:
            decoder.feed(bytes(data), normalize_uuid(char_uuid))
        except Exception as exc:  # a decoder bug must not cost the scan
            log.debug("%s: notification dropped: %s: %s", client.address, type(exc).__name__, exc)
            return
        if driver.battery_from_decoder(decoder) is not None:
            answered.set()

    listening = [u for u in driver.notify_uuids(decoder) if client.has(u)]
    try:
        for uuid in listening:
            await client.start_notify(uuid, on_notify)
        await send_writes(client, polls)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(answered.wait(), wait_s)
    finally:
        for uuid in listening:
            with contextlib.suppress(BleError):
                await client.stop_notify(uuid)
    return driver.battery_from_decoder(decoder)
