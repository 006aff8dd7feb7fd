"""The `posturewatch` command: one sub-command per module ``posturewatch.app.cmd_<name>``.

Each command module exposes ``HELP`` (one line), ``configure(parser)`` and ``run(args) -> int``;
they are imported only when chosen, so `posturewatch --help` stays fast and a command's heavy
dependencies (bleak, matplotlib, amqtt) load only when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from posturewatch.app import terminal

COMMANDS: dict[str, str] = {
    "demo": "everything in one process on simulated sensors and embedded defaults",
    "run": "the daemon: read the configured BLE sensors and publish",
    "scan": "list nearby supported sensors",
    "calibrate": "guide the wearer through the neutral standing pose and store it",
    "simulate": "write or stream a synthetic day of sensor data with ground truth",
    "replay": "run the pipeline over a recorded file and write results",
    "report": "daily trends as PNG and HTML",
    "cohort": "replay a study's recordings on a Dask cluster and tabulate them",
    "sink": "central worker: MQTT → InfluxDB",
    "users": "broker accounts and ACLs for wearers, sink workers and clinicians",
    "web": "the web app for the wearer's phone and the clinician's screen",
}


def _module(name: str):
    return importlib.import_module(f"posturewatch.app.cmd_{name}")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="posturewatch", description="Wearable posture monitoring.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            try:
                _module(name).configure(p)
            except ModuleNotFoundError as exc:
                if exc.name != f"posturewatch.app.cmd_{name}":
                    raise
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    terminal.install(logging.WARNING - 10 * min(args.verbose, 2))
    if args.command is None:
        parser.print_help()
        return 2
    try:
        module = _module(args.command)
    except ModuleNotFoundError as exc:
        if exc.name != f"posturewatch.app.cmd_{args.command}":
            raise
        print(f"posturewatch {args.command}: not available in this build", file=sys.stderr)
        return 2
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
