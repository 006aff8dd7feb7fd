"""Live sources for a session: the BLE links (real or emulated) and the paced simulated wearer.

``BleSource`` runs the BLE daemon (one reconnecting link per configured sensor) on the session's
loop and yields the host-time blocks it gathers once a second; frames end ``LATENCY_S`` behind
the clock so every sensor's samples are in. Host time is the wall clock read once when streaming
starts and carried on by the loop's monotonic clock (``ingest.hostclock.SteadyClock``), so a
step of the wall clock never stamps samples over ones already analysed. ``SimulatedSource``
streams the synthetic wearer at ``speed`` × real time on a simulated clock (the demo): every
timestamp it produces is sim time.
The recorded-file source lives with the replay (``runtime.replay``), next to its pre-passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping

from posturewatch.ingest.ble.client import BleBackend
from posturewatch.ingest.ble.config import DaemonConfig
from posturewatch.ingest.ble.daemon import BleDaemon
from posturewatch.ingest.hostclock import SteadyClock
from posturewatch.ingest.mounting import Calibration
from posturewatch.ingest.records import SensorBlock
from posturewatch.runtime.config import Config
from posturewatch.runtime.session import Chunk, Plan
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.wearer import iter_blocks

LATENCY_S = 1.0  # frames end this far behind the clock: every sensor's samples are in by then
FLUSH_S = 1.0  # blocks go to the monitor once a second: its cost is mostly per call
BLOCK_WALL_S = 0.2  # the demo's wall seconds per block at the target speed


class BleSource:
    """The configured BLE sensors through ``backend``; see the module docstring."""

    def __init__(self, config: DaemonConfig, backend: BleBackend, *, now: Callable[[], float] = time.time,
                 **ble_options) -> None:
        self.backend = backend
        self.now = SteadyClock(now)  # anchored to the loop's monotonic clock when streaming starts
        self._queue: asyncio.Queue[list[SensorBlock]] = asyncio.Queue()
        ble_options.setdefault("flush_interval_s", FLUSH_S)
        self.ble = BleDaemon(config, backend, self._queue.put_nowait, now=self.now, **ble_options)

    def clock(self) -> float:
        return self.now()

    def prepare(self, config: Config, calibrations: Mapping[str, Calibration]) -> Plan:
        return Plan(calibrations=dict(calibrations))

    def sensors(self) -> dict[str, dict[str, object]]:
        return self.ble.status()["sensors"]

    async def chunks(self, stop: asyncio.Event) -> AsyncIterator[Chunk]:
        await self.backend.check_adapter()
        self.now.bind(asyncio.get_running_loop().time)
        runner = asyncio.create_task(self.ble.run(stop=stop), name="ble")
        try:
            while not (runner.done() and self._queue.empty()):
                getter = asyncio.ensure_future(self._queue.get())
                await asyncio.wait({getter, runner}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await getter
                    continue
                yield Chunk(getter.result(), until=self.now() - LATENCY_S)
        finally:
            if not runner.done():
                stop.set()
            await runner


class SimulatedSource:
    """The synthetic wearer, paced to ``speed`` × real time (``speed`` None: as fast as it goes)."""

    def __init__(self, wearer: WearerConfig, speed: float | None = 120.0) -> None:
        self.wearer = wearer
        self.speed = speed
        self.sim_now = float(wearer.start)
        self.start = float(wearer.start)
        self.wall0 = time.monotonic()

    def clock(self) -> float:
        return self.sim_now

    def prepare(self, config: Config, calibrations: Mapping[str, Calibration]) -> Plan:
        return Plan(calibrations=dict(calibrations))

    def sensors(self) -> dict[str, dict[str, object]]:
        return {}

    @property
    def speed_actual(self) -> float:
        return (self.sim_now - self.start) / max(time.monotonic() - self.wall0, 1e-6)

    async def chunks(self, stop: asyncio.Event) -> AsyncIterator[Chunk]:
        speed = self.speed or 1e9
        # about five blocks per wall second: smooth pacing, and whole seconds for the rollup
        chunk_s = float(min(60.0, max(1.0, round(speed * BLOCK_WALL_S))))
        self.wall0 = time.monotonic()
        for index, blocks in enumerate(iter_blocks(self.wearer, chunk_s=chunk_s)):
            if stop.is_set():
                return
            block_end = min(self.start + (index + 1) * chunk_s, self.wearer.end)
            self.sim_now = block_end
            yield Chunk([b for b in blocks.values() if len(b)])
            target = self.wall0 + (block_end - self.start) / speed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, target - time.monotonic()))
