"""CPU cost of the BLE daemon: three emulated sensors at ~100 Hz, in real time.

Runs the unmodified daemon (decoders, clock mapping, accounting, block merging) against
byte-exact emulators for a wall-clock minute (``--seconds`` to shorten) and prints CPU seconds
per wall second and peak RSS. The emulators run in the same process, so the figure is an upper
bound for the daemon alone.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time

from posturewatch.ingest.ble.config import parse_config
from posturewatch.ingest.ble.daemon import BleDaemon
from posturewatch.simulators.devices.backend import EmulatedBackend, emulate_config

CONFIG = {"sensors": [
    {"location": "pelvis", "family": "witmotion", "address": "AA:00:00:00:00:01", "rate_hz": 100},
    {"location": "thigh", "family": "movesense", "address": "AA:00:00:00:00:02", "rate_hz": 104},
    {"location": "thorax", "family": "pwrp", "address": "AA:00:00:00:00:03", "rate_hz": 100},
]}


async def main(seconds: float) -> dict:
    config = parse_config(CONFIG)
    devices = emulate_config(config, time.time)
    samples = {"n": 0}

    def sink(blocks):
        samples["n"] += sum(len(b) for b in blocks)

    daemon = BleDaemon(config, EmulatedBackend(devices), sink)
    cpu0, wall0 = time.process_time(), time.perf_counter()

    async def progress():
        while True:
            await asyncio.sleep(1.0)
            done = time.perf_counter() - wall0
            print(f"\r{done:5.0f}/{seconds:.0f} s  {samples['n']} samples", end="", file=sys.stderr)

    shower = asyncio.create_task(progress())
    await daemon.run(duration_s=seconds)
    shower.cancel()
    print(file=sys.stderr)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"cpu_s": cpu, "wall_s": wall, "samples": samples["n"], "status": daemon.status()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    result = asyncio.run(main(args.seconds))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"three emulated sensors ~100 Hz for {result['wall_s']:.1f} s wall: "
          f"{result['samples']} samples ({result['samples'] / result['wall_s']:.0f}/s)")
    print(f"CPU seconds per wall second (daemon + emulators): "
          f"{result['cpu_s'] / result['wall_s']:.3f}")
    print(f"peak RSS: {peak_mb:.1f} MB")
    for location, s in result["status"]["sensors"].items():
        print(f"  {location}: {s['family']} rate {s['rate_hz']} Hz lost {s['lost']} "
              f"bad {s['bad_packets']}")
