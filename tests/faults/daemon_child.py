"""A daemon child for the fault tests: ``posturewatch run --emulate`` in virtual time.

The same assembly as the CLI (``daemon_session`` over byte-exact emulated sensors moving like
the synthetic wearer, outbox, embedded store, MQTT) on a virtual clock starting at ``--epoch``,
so a test can kill it with SIGKILL at a chosen simulated moment (``--kill-at``: it kills itself
there, from inside the event loop, mid-stream) and start it again later on the same state
folder. The wearer's day always starts at ``--day-start`` whatever the epoch, so the restarted
daemon sees the day going on where it was, not starting again. ``--clock-jump S@T`` makes the
host clock the daemon reads jump by S seconds at simulated time T (a gateway whose clock is
set by NTP or by hand). Prints one JSON line with the session's counters when it ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

from posturewatch.ingest.pose import summarize
from posturewatch.runtime.calibration_file import load_calibrations, write_calibration
from posturewatch.runtime.config import from_mapping
from posturewatch.runtime.daemon import daemon_session
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.devices.backend import EmulatedBackend, emulate_config
from posturewatch.simulators.devices.motion import WearerMotion
from posturewatch.simulators.devices.vtime import run_virtual
from posturewatch.simulators.wearer import Truth, simulate

SENSORS = [
    {"location": "thigh", "family": "witmotion", "address": "AA:00:00:00:00:01", "rate_hz": 50},
    {"location": "pelvis", "family": "movesense", "address": "AA:00:00:00:00:02", "rate_hz": 52},
    {"location": "thorax", "family": "pwrp", "address": "AA:00:00:00:00:03", "rate_hz": 50},
]

# sitting is an episode after 5 min and reminded every 5 min; cooldowns of a minute, no cap
ALERTY = {
    "episodes": {"sitting_limit_s": 300.0},
    "alerts": {"daily_cap": 0, "escalation": {"enabled": False},
               "posterior_tilt": {"cooldown_s": 60.0}, "forward_head": {"cooldown_s": 60.0},
               "lumbar_bend": {"cooldown_s": 60.0},
               "prolonged_sitting": {"delay_s": 300.0, "repeat_s": 300.0, "cooldown_s": 60.0}},
}


def wearer(hours: float, seed: int, start: float) -> WearerConfig:
    return WearerConfig(hours=hours, seed=seed, rate=50.0, start=start).with_realism(
        clock=False, jitter=False, packet_loss=False, dropout=False)


def _chunks(blocks, start: float, end: float, step: float = 10.0):
    for t0 in np.arange(start, end, step):
        yield {loc: b.slice(int(np.searchsorted(b.t, t0)), int(np.searchsorted(b.t, t0 + step)))
               for loc, b in blocks.items()}


def _calibration(day, path: Path, user: str) -> None:
    """``posturewatch calibrate``'s summary of the day's first ≥ 6 s of neutral standing."""
    a = day.truth.angles_10hz
    ok = ((Truth.labels(day.truth.posture_10hz) == "standing") & (np.abs(a["pelvic_tilt"]) < 2)
          & (np.abs(a["trunk_inclination"]) < 2) & (np.abs(a["thigh_inclination"]) < 2))
    idx = np.flatnonzero(ok)
    run = next(r for r in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if len(r) >= 60)
    t0, t1 = float(day.truth.t_10hz[run[0]]), float(day.truth.t_10hz[run[-1]])
    still = [b.slice(int(np.searchsorted(b.t, t0)), int(np.searchsorted(b.t, t1)))
             for b in day.blocks.values()]
    write_calibration(path, user, {}, {"neutral": summarize(still, 4.0)})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, required=True)
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--user", default="faults")
    p.add_argument("--day-start", type=float, required=True)
    p.add_argument("--hours", type=float, required=True, help="length of the wearer's day")
    p.add_argument("--epoch", type=float, required=True, help="virtual start of this run")
    p.add_argument("--until", type=float, required=True, help="virtual end of this run")
    p.add_argument("--kill-at", type=float, default=None)
    p.add_argument("--clock-jump", default=None, metavar="S@T")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--wait-for-sink", action="store_true",
                   help="[mqtt] wait_for_sink: hold the outbox on each connection until a sink answers")
    p.add_argument("--alerty", action="store_true",
                   help="short limits and cooldowns: many reminders in a short span")
    args = p.parse_args(argv)

    w = wearer(args.hours, args.seed, args.day_start)
    day = simulate(w)
    cal = args.state / "calibration.json"
    args.state.mkdir(parents=True, exist_ok=True)
    if not cal.exists():
        _calibration(day, cal, args.user)
    config = from_mapping({
        "user": args.user, "sensors": SENSORS, "ble": {"max_backoff_s": 10},
        "mqtt": {"host": args.mqtt_host, "port": args.mqtt_port, "status_interval_s": 60,
                 "wait_for_sink": args.wait_for_sink},
        "store": {"dir": str(args.state), "synchronous": "NORMAL"},
        **(ALERTY if args.alerty else {}),
    })
    calibrations, _ = load_calibrations(cal, config.pipeline.declared)
    jump = None
    if args.clock_jump:
        size, at = args.clock_jump.split("@")
        jump = (float(size), float(at))

    async def run(now):
        loop = asyncio.get_running_loop()
        host_now = now
        if jump is not None:
            def host_now() -> float:  # noqa: E306 - the gateway's clock, jumping once
                t = now()
                return t + jump[0] if t >= jump[1] else t
        if args.kill_at is not None:
            loop.call_later(args.kill_at - args.epoch, os.kill, os.getpid(), signal.SIGKILL)
        motion = WearerMotion(_chunks(day.blocks, w.start, w.end), start=w.start)
        devices = emulate_config(config.ble, now, motion=motion, seed=args.seed)
        session = daemon_session(config, EmulatedBackend(devices), calibrations=calibrations,
                                 now=host_now, seed=args.seed)
        await session.run(duration_s=args.until - args.epoch)
        return session

    session = run_virtual(run, epoch=args.epoch)
    print(json.dumps({"frames": session.frames_out, "alerts": session.alerts_out,
                      "restored": session.policy_restored,
                      "policy_saves_failed": session.outputs.policy_saver.failures,
                      "gate_opened": gate.opened if (gate := session.outputs.service.gate) else None,
                      **session.source.now.stats()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
