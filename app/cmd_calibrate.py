"""``posturewatch calibrate``: record the wearer's neutral standing pose (and a forward bend).

Connects the configured sensors through the same daemon as ``run``, tells the wearer what to
do, and from each pose's recording keeps the stillest 3–5 s window: per location the mean
accelerometer vector (m/s², sensor axes), its spread and the window's start/end. The result goes
to ``<data dir>/posturewatch/<user>/calibration.json`` (``$XDG_DATA_HOME`` or ``~/.local/share``),
where the pipeline's calibration code picks it up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import numpy as np

from posturewatch.app.calibration_file import calibration_path, write_calibration
from posturewatch.ingest.ble.client import NoAdapterError
from posturewatch.ingest.ble.config import ConfigError, load_config
from posturewatch.ingest.ble.daemon import BleDaemon
from posturewatch.ingest.ble.families import families
from posturewatch.ingest.records import SensorBlock

HELP = "guide the wearer through the neutral standing pose and store it"

POSES = {
    "neutral": "Stand upright and still, arms relaxed, looking straight ahead.",
    "forward_bend": "Bend forward at the hips as far as comfortable and hold still.",
}
STILL_ACC_STD = 0.15  # m/s²: more than this in any axis is not standing still


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True, help="TOML config with [[sensors]]")
    parser.add_argument("--user", default=os.environ.get("USER", "default"), help="whose pose")
    parser.add_argument("--bend", action="store_true", help="also record a forward bend")
    parser.add_argument("--hold", type=float, default=6.0, help="seconds to hold each pose")
    parser.add_argument("--window", type=float, default=4.0,
                        help="still window kept per pose, 3–5 s (default 4)")
    parser.add_argument("--out", type=Path, default=None, help="write here instead")
    parser.add_argument("--emulate", action="store_true", help="use emulated sensors")


def stillest_window(t: np.ndarray, acc: np.ndarray, window_s: float) -> tuple[int, int] | None:
    """Index range of the ``window_s`` stretch with the least acceleration spread, or None."""
    if len(t) < 3 or t[-1] - t[0] < window_s * 0.95:
        return None
    ends = np.searchsorted(t, t + window_s)
    starts = np.nonzero(ends < len(t))[0]
    if starts.size == 0:
        starts = np.array([0])
    # Spread from prefix sums of x and x² per axis: every window at once, no Python loop.
    c1 = np.vstack([np.zeros(3), np.cumsum(acc, axis=0)])
    c2 = np.vstack([np.zeros(3), np.cumsum(acc**2, axis=0)])
    n = (ends[starts] - starts)[:, None]
    mean = (c1[ends[starts]] - c1[starts]) / n
    var = (c2[ends[starts]] - c2[starts]) / n - mean**2
    best = int(np.argmin(var.max(axis=1)))
    return int(starts[best]), int(ends[starts[best]])


def summarize(blocks: list[SensorBlock], window_s: float) -> dict:
    """Per location the stillest window's mean acceleration, or why there is none."""
    by_location: dict[str, list[SensorBlock]] = {}
    for block in blocks:
        by_location.setdefault(block.location, []).append(block)
    result = {}
    for location, parts in by_location.items():
        t = np.concatenate([p.t for p in parts])
        acc = np.concatenate([p.acc for p in parts])
        span = stillest_window(t, acc, window_s)
        if span is None:
            result[location] = {"error": f"only {t[-1] - t[0]:.1f} s of data"}
            continue
        a, b = span
        std = acc[a:b].std(axis=0)
        entry = {"acc_mean": acc[a:b].mean(axis=0).round(5).tolist(),
                 "acc_std": std.round(5).tolist(), "samples": b - a,
                 "start": float(t[a]), "end": float(t[b - 1])}
        if std.max() > STILL_ACC_STD:
            entry["error"] = f"not still enough (acc spread {std.max():.2f} m/s²)"
        result[location] = entry
    return result


async def record(config, backend, poses: list[str], hold_s: float, window_s: float) -> dict:
    await backend.check_adapter()
    collected: list[SensorBlock] = []
    daemon = BleDaemon(config, backend, collected.extend)
    runner = asyncio.create_task(daemon.run())
    out = {}
    try:
        print("connecting sensors …", file=sys.stderr)
        for _ in range(60):
            states = {s["location"]: s["state"] for s in daemon.status()["sensors"].values()}
            if all(state == "streaming" for state in states.values()):
                break
            await asyncio.sleep(0.5)
        else:
            missing = [k for k, v in states.items() if v != "streaming"]
            raise RuntimeError(f"sensors not streaming after 30 s: {', '.join(missing)}")
        for pose in poses:
            print(f"{pose}: {POSES[pose]} Starting in 3 s …", file=sys.stderr)
            await asyncio.sleep(3.0)
            await daemon.flush()
            collected.clear()
            for left in range(int(hold_s), 0, -1):
                print(f"\r  hold … {left:2d} s", end="", file=sys.stderr)
                await asyncio.sleep(1.0)
            await daemon.flush()
            print("\r  done.        ", file=sys.stderr)
            out[pose] = summarize(list(collected), window_s)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    return out


def run(args: argparse.Namespace) -> int:
    if not 3.0 <= args.window <= 5.0 or args.hold < args.window:
        print("posturewatch calibrate: --window must be 3–5 s and --hold at least as long",
              file=sys.stderr)
        return 2
    try:
        config = load_config(args.config, tuple(families()))
    except ConfigError as exc:
        print(f"posturewatch calibrate: {exc}", file=sys.stderr)
        return 2
    from posturewatch.app.cmd_run import make_backend

    backend = make_backend(config, args.emulate, wearer=False)  # emulated wearer stands still
    poses = ["neutral", "forward_bend"] if args.bend else ["neutral"]
    try:
        recorded = asyncio.run(record(config, backend, poses, args.hold, args.window))
    except (NoAdapterError, RuntimeError) as exc:
        print(f"posturewatch calibrate: {exc}", file=sys.stderr)
        return 1
    problems = [f"{pose}/{loc}: {e['error']}" for pose, locs in recorded.items()
                for loc, e in locs.items() if "error" in e]
    if problems:
        print("calibration not stored:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    path = args.out or calibration_path(args.user)
    mounting = {s.location: s.mounting for s in config.sensors if s.mounting}
    write_calibration(path, args.user, mounting, recorded)
    print(f"calibration for {args.user} stored in {path}")
    return 0
