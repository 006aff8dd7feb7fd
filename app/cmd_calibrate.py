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
import sys
from pathlib import Path

from posturewatch.ingest.ble.client import NoAdapterError
from posturewatch.ingest.ble.daemon import BleDaemon
from posturewatch.ingest.pose import summarize
from posturewatch.ingest.records import SensorBlock
from posturewatch.runtime import config as app_config
from posturewatch.runtime.calibration_file import calibration_path, write_calibration

HELP = "guide the wearer through the neutral standing pose and store it"

POSES = {
    "neutral": "Stand upright and still, arms relaxed, looking straight ahead.",
    "forward_bend": "Bend forward at the hips as far as comfortable and hold still.",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True,
                        help="the TOML config `posturewatch run` uses (its user, sensors and mountings)")
    parser.add_argument("--user", default=None, help="whose pose (default: the config's user)")
    parser.add_argument("--bend", action="store_true", help="also record a forward bend")
    parser.add_argument("--hold", type=float, default=6.0, help="seconds to hold each pose")
    parser.add_argument("--window", type=float, default=4.0,
                        help="still window kept per pose, 3–5 s (default 4)")
    parser.add_argument("--out", type=Path, default=None, help="write here instead")
    parser.add_argument("--emulate", action="store_true", help="use emulated sensors")


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
    from posturewatch.runtime.daemon import make_backend

    try:
        app_cfg = app_config.load(args.config)
        if app_cfg.ble is None:
            raise app_config.ConfigError(f"{args.config}: no [[sensors]] table to calibrate")
    except app_config.ConfigError as exc:
        print(f"posturewatch calibrate: {exc}", file=sys.stderr)
        return 2
    config = app_cfg.ble
    user = args.user or app_cfg.user
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
    path = args.out or (app_cfg.paths.calibration if user == app_cfg.user else calibration_path(user))
    write_calibration(path, user, app_cfg.mountings(), recorded)
    print(f"calibration for {user} stored in {path}")
    return 0
