"""A daemon-side writer process for the SIGKILL test: hub + outbox + pumps over the stream.

Prints "accepted <block>" after each block is committed to the outbox, "drained" at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from synthetic_stream import SNOOZE_AT_S, SNOOZE_KINDS, SNOOZE_MIN, T0, blocks  # noqa: E402

from posturewatch.alerts.monitor import MonitorStep
from posturewatch.alerts.mqtt.commands import CommandService  # noqa: E402
from posturewatch.alerts.mqtt.link import MqttSettings  # noqa: E402
from posturewatch.alerts.mqtt.payloads import Topics  # noqa: E402
from posturewatch.alerts.mqtt.service import UserMqttService  # noqa: E402
from posturewatch.alerts.policy import AlertPolicy  # noqa: E402
from posturewatch.store.hub import OutputHub  # noqa: E402
from posturewatch.store.influx import InfluxSettings, InfluxWriter  # noqa: E402
from posturewatch.store.outbox import Outbox  # noqa: E402
from posturewatch.store.pumps import InfluxPump, MqttPump  # noqa: E402
from posturewatch.store.sqlite import SqliteStore  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--user", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--mqtt-port", type=int, required=True)
    ap.add_argument("--influx-url", required=True)
    ap.add_argument("--resume", type=int, default=0)
    ap.add_argument("--block-delay", type=float, default=0.0)
    ap.add_argument("--duration", type=int, default=2400)
    args = ap.parse_args()
    work = Path(args.dir)
    outbox = Outbox(work / "outbox.db", synchronous="NORMAL")
    policy = AlertPolicy()
    hub = OutputHub(args.user, outbox, sqlite=SqliteStore(work / "store.db"))
    service = UserMqttService(
        MqttSettings(host="127.0.0.1", port=args.mqtt_port), Topics(args.user),
        CommandService(policy), home_assistant=False,
    )
    writer = InfluxWriter(InfluxSettings(url=args.influx_url, timeout_s=2))
    pumps = [MqttPump(outbox, service.link), InfluxPump(outbox, writer, backoff_max_s=1.0)]
    for pump in pumps:
        pump.start()
    service.start()
    snoozed = False
    for block in blocks(args.duration):
        if block.index < args.resume:
            continue
        if not snoozed and block.now > T0 + SNOOZE_AT_S:
            policy.snooze(T0 + SNOOZE_AT_S, minutes=SNOOZE_MIN, kinds=SNOOZE_KINDS)
            snoozed = True
        alerts = policy.advance(block.events, block.now, hub.posture)
        hub.process(MonitorStep.of(block.t, block.angles, block.posture, block.events, alerts,
                                   complete_before=block.now))
        print(f"accepted {block.index}", flush=True)
        if args.block_delay:
            time.sleep(args.block_delay)
    for pump in pumps:
        if not pump.wait_drained(60):
            print("not drained", flush=True)
            return 1
    print("drained", flush=True)
    service.close()
    for pump in pumps:
        pump.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
