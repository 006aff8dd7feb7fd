"""`posturewatch sink`: a central worker that stores every wearer's MQTT data in InfluxDB.

Scale by starting more copies with the same ``--group`` and ``--shard`` and distinct ``--worker``
indexes; each keeps a persistent session under ``sink-<shard>-<worker>``. SIGTERM stops a worker
that will come back (the broker keeps its share meanwhile); SIGUSR1 (or ``--leave``) makes it
leave the group for good first, for scaling down. Exit status: 0 stopped, 3 the broker cannot
serve a sink (no MQTT v5, login or subscriptions refused), 4 left the group on SIGUSR1.

Secrets can come from the environment instead of the command line:
``POSTUREWATCH_MQTT_PASSWORD`` and ``POSTUREWATCH_INFLUX_TOKEN``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from posturewatch.store.sink import DEFAULT_GROUP, LINGER_S

HELP = "central worker: MQTT → InfluxDB"
# exit status when the broker cannot serve a sink at all (no MQTT v5, login or subscriptions refused)
EXIT_BROKER_UNSUITABLE = 3
# exit status after leaving the group on SIGUSR1 (the systemd unit does not restart on it)
EXIT_LEFT_GROUP = 4


def configure(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    mq = parser.add_argument_group("MQTT (v5 is required: shared subscriptions and manual acks)")
    mq.add_argument("--mqtt-host", default="localhost", help="broker host (default: %(default)s)")
    mq.add_argument("--mqtt-port", type=int, default=1883, help="broker port (default: %(default)s)")
    mq.add_argument("--mqtt-user", default="posturewatch-sink",
                    help="broker user name, '' for none (default: %(default)s)")
    mq.add_argument("--mqtt-password", default=env("POSTUREWATCH_MQTT_PASSWORD"),
                    help="broker password (default: $POSTUREWATCH_MQTT_PASSWORD)")
    mq.add_argument("--tls", action="store_true", help="connect with TLS")
    mq.add_argument("--ca-file", help="CA certificate to verify the broker (implies --tls)")
    mq.add_argument("--cert-file", help="client certificate, for brokers that require one")
    mq.add_argument("--key-file", help="private key of --cert-file")
    mq.add_argument("--prefix", default="posturewatch", help="topic prefix (default: %(default)s)")
    scale = parser.add_argument_group("scaling (start more workers with the same group and shard)")
    scale.add_argument(
        "--group", default=env("POSTUREWATCH_SINK_GROUP", DEFAULT_GROUP),
        help="shared-subscription group: the broker gives each message to one worker of the group "
             "(default: $POSTUREWATCH_SINK_GROUP or %(default)s). '' = one worker alone on a plain "
             "subscription, which survives a broker restart (shared ones are not restored)",
    )
    scale.add_argument(
        "--shard", default=env("POSTUREWATCH_SINK_SHARD", "0"),
        help="name of the broker (shard) this worker serves; part of the client id "
             "(default: $POSTUREWATCH_SINK_SHARD or %(default)s)",
    )
    scale.add_argument(
        "--worker", type=_index, default=0,
        help="this worker's index in its shard; a restarted worker must keep its index to get "
             "back the messages it had not acknowledged (default: %(default)s)",
    )
    scale.add_argument(
        "--client-id", help="override the persistent session id (default: sink-<shard>-<worker>)"
    )
    scale.add_argument(
        "--session-expiry", type=_positive_int,
        default=int(env("POSTUREWATCH_SINK_SESSION_EXPIRY", 7 * 86400)),
        help="seconds the broker keeps this worker's session and queued messages while it is away "
             "(default: $POSTUREWATCH_SINK_SESSION_EXPIRY or %(default)s = 7 days)",
    )
    scale.add_argument(
        "--leave", action="store_true",
        help="on exit, leave the group for good (scaling down): unsubscribe, store what still "
             "arrives, then disconnect. Without it the broker keeps queueing this worker's share "
             "for its return under the same id",
    )
    scale.add_argument(
        "--batch", type=_positive_int, default=500,
        help="most messages per database write, also the most unacknowledged (default: %(default)s)",
    )
    scale.add_argument("--linger", type=float, default=LINGER_S,
                       help="seconds a batch waits for more messages after its first; longer means "
                            "fewer, larger writes and later data (default: %(default)s)")
    db = parser.add_argument_group("InfluxDB")
    db.add_argument("--influx-url", default="http://localhost:8086", help="(default: %(default)s)")
    db.add_argument("--influx-token", default=env("POSTUREWATCH_INFLUX_TOKEN", ""),
                    help="API token (default: $POSTUREWATCH_INFLUX_TOKEN)")
    db.add_argument("--org", default="posturewatch", help="(default: %(default)s)")
    db.add_argument("--bucket", default="posturewatch", help="(default: %(default)s)")
    db.add_argument("--influx-timeout", type=float, default=10.0,
                    help="seconds one write may take (default: %(default)s)")
    parser.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many seconds (0 = run until signalled)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument(
        "--trace", metavar="FILE",
        help="append a JSON line per stored angles message with when it arrived, was written and "
             "acknowledged (latency studies; see --trace-users)",
    )
    parser.add_argument("--trace-users", metavar="A,B", help="only these wearers in --trace (default: all)")


def _index(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from posturewatch.alerts.mqtt.link import MqttSettings
    from posturewatch.store.influx import InfluxSettings
    from posturewatch.store.sink import SinkWorker, worker_client_id
    from posturewatch.store.sink_trace import LatencyTrace

    client_id = args.client_id or worker_client_id(args.shard, args.worker)
    worker = SinkWorker(
        MqttSettings(
            host=args.mqtt_host, port=args.mqtt_port, username=args.mqtt_user or None,
            password=args.mqtt_password, tls=args.tls or bool(args.ca_file), ca_certs=args.ca_file,
            certfile=args.cert_file, keyfile=args.key_file,
            client_id=client_id, protocol="5", session_expiry_s=args.session_expiry,
        ),
        InfluxSettings(url=args.influx_url, token=args.influx_token, org=args.org, bucket=args.bucket,
                       timeout_s=args.influx_timeout),
        prefix=args.prefix, group=args.group, batch_max=args.batch, linger_s=args.linger,
        trace=LatencyTrace(args.trace, args.trace_users.split(",") if args.trace_users else None)
        if args.trace else None,
    )
    stop = threading.Event()
    leave = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def leave_and_stop(*_: object) -> None:
        leave.set()
        stop.set()

    signal.signal(signal.SIGUSR1, leave_and_stop)
    worker.start()
    started = time.monotonic()
    failure = None
    try:
        while not stop.wait(0.2):
            failure = worker.failure
            if failure:
                break
            if not args.quiet:
                _progress(worker, client_id, time.monotonic() - started)
            if args.duration and time.monotonic() - started >= args.duration:
                break
    finally:
        worker.stop(leave=(args.leave or leave.is_set()) and not failure)
    if failure:
        if not args.quiet:
            print(file=sys.stderr)  # end the progress line
        print(f"sink {client_id}: {failure}", file=sys.stderr)
        return EXIT_BROKER_UNSUITABLE
    s = worker.stats
    if not args.quiet:
        print(file=sys.stderr)
    print(
        f"sink {client_id}: received {s['received']} messages, wrote {s['written']} "
        f"({s['written_lines']} lines), acknowledged {s['acked']}, {s['bad']} bad ({dict(worker.bad)}), "
        f"{s['rejected']} rejected by the database, {s['duplicates']} copies of stored events "
        f"skipped, {s['pending']} left for redelivery",
        file=sys.stderr,
    )
    if leave.is_set():
        print(f"sink {client_id}: left group {args.group} for good", file=sys.stderr)
        return EXIT_LEFT_GROUP
    return 0


def _progress(worker, client_id: str, elapsed: float) -> None:
    s = worker.stats
    if not worker.link.connected:
        state = "connecting"
    else:  # "subscribed": the broker has confirmed the shared subscriptions
        state = "subscribed" if worker.link.subscribed.is_set() else "connected"
    print(
        f"\r{client_id} {elapsed:7.0f}s  mqtt {state:10s} received {s['received']:8d}  "
        f"written {s['written']:8d}  unacked {s['pending']:6d}  bad {s['bad']:4d}",
        end="", file=sys.stderr, flush=True,
    )
