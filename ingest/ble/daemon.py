"""The BLE ingest daemon: one connection manager per configured sensor, one sink for all blocks.

It runs a :class:`~posturewatch.ingest.ble.link.SensorLink` task per sensor on whatever backend
it is given (a real adapter or the emulators), gathers the host-time blocks they produce and
hands them, merged per location, to a plain ``on_blocks(list[SensorBlock])`` callable every
``flush_interval_s`` (the pipeline's ``push``). A sink that raises is logged and counted; the
daemon carries on. :meth:`BleDaemon.status` is the snapshot for the ``status`` topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections.abc import Callable

from posturewatch.ingest.ble.client import BleBackend
from posturewatch.ingest.ble.config import DaemonConfig
from posturewatch.ingest.ble.link import SensorLink
from posturewatch.ingest.protocols import driver
from posturewatch.ingest.records import SensorBlock

log = logging.getLogger(__name__)

BlockSink = Callable[[list[SensorBlock]], object]


def merge_blocks(blocks: list[SensorBlock]) -> list[SensorBlock]:
    """Consecutive blocks of each location joined into one (order of first appearance kept)."""
    by_location: dict[str, list[SensorBlock]] = {}
    for block in blocks:
        by_location.setdefault(block.location, []).append(block)
    return [parts[0] if len(parts) == 1 else SensorBlock.concat(parts) for parts in by_location.values()]


class BleDaemon:
    """Runs every configured sensor's link and feeds their blocks to ``on_blocks``."""

    def __init__(
        self,
        config: DaemonConfig,
        backend: BleBackend,
        on_blocks: BlockSink,
        *,
        now: Callable[[], float] = time.time,
        flush_interval_s: float = 0.25,
        seed: int | None = None,
        **link_options,
    ) -> None:
        self.config = config
        self.backend = backend
        self.on_blocks = on_blocks
        self.now = now
        self.flush_interval_s = flush_interval_s
        self.started: float | None = None
        self.blocks_out = 0
        self.samples_out = 0
        self.sink_errors = 0
        self._pending: list[SensorBlock] = []
        rng = random.Random(seed)
        options = {
            "scan_timeout_s": config.scan_timeout_s,
            "connect_timeout_s": config.connect_timeout_s,
            "max_backoff_s": config.max_backoff_s,
            "stall_timeout_s": config.stall_timeout_s,
            **link_options,
        }
        self.links = [
            SensorLink(sensor, driver(sensor.family), backend, self._pending.append, now=now,
                       rng=random.Random(rng.random()), **options)
            for sensor in config.sensors
        ]

    async def run(self, duration_s: float | None = None, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set, ``duration_s`` has passed, or the task is cancelled."""
        self.started = self.now()
        for sensor in self.config.sensors:
            if sensor.address:
                await self.backend.close_stale(sensor.address)
        tasks = [asyncio.create_task(link.run(), name=f"link-{link.sensor.location}")
                 for link in self.links]
        flusher = asyncio.create_task(self._flush_forever(), name="ble-flush")
        stop = stop or asyncio.Event()
        try:
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter}, timeout=duration_s)
            waiter.cancel()
        finally:
            for task in (*tasks, flusher):
                task.cancel()
            for task in (*tasks, flusher):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.flush()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()

    async def flush(self) -> None:
        """Hand everything gathered so far to the sink."""
        if not self._pending:
            return
        blocks = merge_blocks(self._pending)
        self._pending.clear()
        try:
            result = self.on_blocks(blocks)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            self.sink_errors += 1
            log.exception("block sink failed; %d blocks not delivered", len(blocks))
            return
        self.blocks_out += len(blocks)
        self.samples_out += sum(len(b) for b in blocks)

    def status(self) -> dict:
        """Every sensor's connection, battery, rate and loss, for the ``status`` topic."""
        return {
            "ts": self.now(),
            "uptime_s": None if self.started is None else self.now() - self.started,
            "sensors": {link.sensor.location: link.status() for link in self.links},
            "samples_out": self.samples_out,
            "sink_errors": self.sink_errors,
        }
