"""CPU and memory of the daemon: three emulated sensors at ~50–100 Hz, in real time.

Two phases of ``--seconds`` each (default 60), in one process:

1. reference — the BLE part alone (emulators, decoders, clock mapping, accounting, block merging)
   feeding a sink that only counts samples;
2. daemon — the whole daemon session (``runtime.daemon.daemon_session``): the same BLE part
   feeding the real monitor (fusion, angles, posture, episodes, alert policy) and the live outputs
   writing the outbox and the local SQLite store (no MQTT server needed), on one event loop.

Prints CPU seconds per wall second for both (the emulators run in the same process, so both are
upper bounds), the analysis' own share (their difference), the CPU measured inside the daemon's
own handlers (notification decoding and the block sink: the daemon without the emulators), and
resident memory at the start and end of the daemon phase plus the peak, so a leak shows as growth.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from posturewatch.app.progress import Progress
from posturewatch.ingest.ble.daemon import BleDaemon
from posturewatch.runtime.config import from_mapping
from posturewatch.runtime.daemon import daemon_session
from posturewatch.simulators.devices.backend import EmulatedBackend, emulate_config

SENSORS = [
    {"location": "pelvis", "family": "witmotion", "address": "AA:00:00:00:00:01", "rate_hz": 100},
    {"location": "thigh", "family": "movesense", "address": "AA:00:00:00:00:02", "rate_hz": 104},
    {"location": "thorax", "family": "pwrp", "address": "AA:00:00:00:00:03", "rate_hz": 100},
]


class HandlerClock:
    """Sums the CPU time spent inside wrapped callables (the daemon's side of each callback).

    The callables run on the event loop's thread; its own CPU clock is read, so the pump and
    MQTT threads working at the same moment are not counted in."""

    def __init__(self) -> None:
        self.cpu = 0.0

    def wrap(self, fn):
        def timed(*args):
            t0 = time.thread_time()
            try:
                return fn(*args)
            finally:
                self.cpu += time.thread_time() - t0

        return timed


def rss_mb() -> float:
    """Current resident set size (Linux /proc), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _timed(label: str, seconds: float, runner, progress) -> tuple[float, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    line = Progress(label)

    async def show() -> None:
        while True:
            await asyncio.sleep(1.0)
            done = time.perf_counter() - wall0
            line(min(done / seconds, 1.0), progress())

    shower = asyncio.create_task(show())
    await runner
    shower.cancel()
    line.done()
    return time.process_time() - cpu0, time.perf_counter() - wall0


async def main(seconds: float, state_dir: Path) -> dict:
    config = from_mapping({"user": "bench", "sensors": SENSORS, "store": {"dir": str(state_dir)}})
    settings = config

    counted = {"n": 0}
    reference = BleDaemon(settings.ble, EmulatedBackend(emulate_config(settings.ble, time.time)),
                          lambda blocks: counted.__setitem__("n", counted["n"] + sum(map(len, blocks))),
                          flush_interval_s=1.0)
    ref_cpu, ref_wall = await _timed("reference (BLE only)", seconds, reference.run(duration_s=seconds),
                                     lambda: f"{counted['n']} samples")

    daemon = daemon_session(config, EmulatedBackend(emulate_config(settings.ble, time.time, seed=1)))
    ble = daemon.source.ble
    handlers, analysis = HandlerClock(), HandlerClock()
    for link in ble.links:
        link._on_notify = handlers.wrap(link._on_notify)
    ble.on_blocks = handlers.wrap(ble.on_blocks)
    daemon.process = analysis.wrap(daemon.process)  # monitor + outputs, per chunk
    rss_start = rss_mb()
    cpu, wall = await _timed("daemon (BLE + Monitor + store)", seconds, daemon.run(duration_s=seconds),
                             lambda: f"{ble.samples_out} samples, {daemon.frames_out} frames")
    return {"ref": (ref_cpu, ref_wall, counted["n"]), "daemon": (cpu, wall, ble.samples_out),
            "frames": daemon.frames_out, "handlers_cpu": handlers.cpu + analysis.cpu,
            "decode_cpu": handlers.cpu, "analysis_cpu": analysis.cpu, "rss": (rss_start, rss_mb()),
            "status": daemon.status()["sensors"]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="wall seconds per phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(main(args.seconds, Path(tmp)))
    (rc, rw, rn), (dc, dw, dn) = result["ref"], result["daemon"]
    print(f"three emulated sensors ~100 Hz, {dw:.0f} s wall per phase")
    print(f"reference (emulators + BLE daemon, counting sink): {rc / rw:.4f} CPU s per wall s, "
          f"{rn / rw:.0f} samples/s")
    print(f"daemon    (… + Monitor + OutputHub + SQLite):       {dc / dw:.4f} CPU s per wall s, "
          f"{dn / dw:.0f} samples/s, {result['frames']} frames")
    print(f"analysis and outputs alone: {(dc / dw - rc / rw):.4f} CPU s per wall s "
          f"({100 * (dc / dw - rc / rw):.2f} % of one core); daemon/reference = {(dc / dw) / (rc / rw):.2f}")
    print(f"daemon's own handlers (decode, clock, accounting, Monitor, outbox, store): "
          f"{result['handlers_cpu'] / dw:.4f} CPU s per wall s ({100 * result['handlers_cpu'] / dw:.2f} % "
          f"of one core; the rest is the emulators and the event loop)")
    print(f"  of which BLE decoding and accounting {100 * result['decode_cpu'] / dw:.2f} %, "
          f"monitor and outputs {100 * result['analysis_cpu'] / dw:.2f} %")
    start, end = result["rss"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS at daemon start {start:.1f} MB, at end {end:.1f} MB (growth {end - start:+.1f} MB), "
          f"peak {peak:.1f} MB")
    for location, s in result["status"].items():
        print(f"  {location}: {s['family']} rate {s['rate_hz']} Hz lost {s['lost']} bad {s['bad_packets']}")
