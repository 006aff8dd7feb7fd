"""`posturewatch simulate`: write a synthetic day of sensor data with its ground truth.

Writes ``sensors.csv`` (the recording format; with ``--format parquet``, ``sensors.parquet`` in the raw
archive's format), the ``truth_*.csv`` files and ``meta.json`` into ``--out``, generating chunk by
chunk so a day (or a week with ``--days``) never sits in memory, with a progress line on stderr and
a one-paragraph summary at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posturewatch.simulators.config import WearerConfig

HELP = "write a synthetic day of sensor data with ground truth"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hours", type=float, default=8.0, help="length of the day (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--start", default="2026-01-05T08:00:00Z",
                        help="ISO date-time of the first sample (default 2026-01-05T08:00:00Z)")
    parser.add_argument("--rate", type=float, default=100.0, help="sample rate, Hz (default 100)")
    parser.add_argument("--rates", default="", metavar="LOC=HZ[,...]",
                        help="per-location rates, e.g. thigh=200,pelvis=20")
    parser.add_argument("--locations", default="pelvis,thigh,thorax",
                        help="sensors to simulate (default pelvis,thigh,thorax)")
    parser.add_argument("--head", action="store_true", help="add a head sensor")
    parser.add_argument("--acc-only", default="", metavar="LOC[,LOC]",
                        help="sensors without a gyroscope")
    parser.add_argument("--mag", action="store_true", help="add magnetometer columns")
    parser.add_argument("--flip", action="append", default=[], metavar="LOC=KIND",
                        help="a sensor worn wrongly: KIND is upside_down, inside_out or both")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv",
                        help="sensor file format: csv (sensors.csv) or parquet (sensors.parquet, the "
                             "daemon's archive format: smaller and much faster to replay; "
                             "recommended for long recordings)")
    parser.add_argument("--ideal", action="store_true",
                        help="all realism off (no noise, bias, misalignment, slip, clock error, "
                             "jitter or loss)")
    wear = parser.add_argument_group("real wear (all off by default)")
    wear.add_argument("--days", type=int, default=0, metavar="N",
                      help="N whole days of 24 h with a night in bed each (replaces --hours)")
    wear.add_argument("--naps", action="store_true", help="a daytime nap, flat or semi-reclined")
    wear.add_argument("--nonwear", action="store_true",
                      help="sensors taken off for minutes to hours: on a table, against a chair "
                           "back, on a charger, in a carried bag")
    wear.add_argument("--seated-off", action="store_true",
                      help="one sensor taken off and put on the desk or chair while the wearer "
                           "sits on with the others")
    wear.add_argument("--reattach-flips", action="store_true",
                      help="after being off, a sensor may go back on upside down or inside out")
    wear.add_argument("--short-bouts", action="store_true",
                      help="3-10 s bouts of sitting down, standing up and lying on a bed")
    wear.add_argument("--seated-slip", action="store_true",
                      help="a sensor also slips while seated (one a day)")
    wear.add_argument("--breathing", action="store_true",
                      help="breathing sways the trunk while the sensors are worn")
    wear.add_argument("--real-wear", action="store_true",
                      help="all of the above (nights need --days)")


def build_config(args: argparse.Namespace) -> WearerConfig:
    """The ``WearerConfig`` the arguments describe (raises ValueError with a clear message)."""
    from posturewatch.simulators.config import (
        Realism,
        Wear,
        WearerConfig,
        parse_location_map,
        parse_locations,
        parse_rates,
        parse_start,
    )

    flips: dict[str, str] = {}
    for item in args.flip:
        flips.update(parse_location_map(item, "--flip"))
    switches = ("naps", "nonwear", "seated_off", "reattach_flips", "short_bouts", "seated_slip", "breathing")
    wear = Wear(**{name: bool(args.real_wear or getattr(args, name)) for name in switches})
    return WearerConfig(
        hours=args.hours, seed=args.seed, start=parse_start(args.start), rate=args.rate,
        rates=parse_rates(args.rates), locations=parse_locations(args.locations),
        head=args.head, acc_only=parse_locations(args.acc_only), mag=args.mag, flips=flips,
        realism=Realism.ideal() if args.ideal else Realism(), days=args.days, wear=wear,
    )


def _progress(hours: float, started: float):
    def show(fraction: float) -> None:
        elapsed = time.monotonic() - started
        sys.stderr.write(f"\rsimulate: {100 * fraction:5.1f}%  ({fraction * hours:.2f} of "
                         f"{hours:g} h simulated, {elapsed:.0f} s)")
        sys.stderr.flush()

    return show


def summary(meta: dict, out: Path, elapsed: float) -> str:
    """One paragraph describing what was written."""
    sensors = out / meta.get("sensors_file", "sensors.csv")
    size_mb = sensors.stat().st_size / 1e6
    rows = meta.get("csv_rows", meta.get("parquet_rows", 0))
    rates = ", ".join(f"{loc} {rate:g} Hz" for loc, rate in meta["rates"].items())
    extra = [name for name, on in (("head", meta["head"]), ("magnetometer", meta["mag"])) if on]
    if meta["acc_only"]:
        extra.append("accelerometer-only " + "/".join(meta["acc_only"]))
    if meta["flips"]:
        extra.append("flipped " + ", ".join(f"{k} {v}" for k, v in meta["flips"].items()))
    counts = meta.get("truth_episode_counts", {})
    episodes = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "none"
    realism = ", ".join(meta["realism_on"]) or "none (ideal)"
    slip = meta.get("slip")
    slip_text = f"; {slip['location']} slips {slip['deg']:+.1f}° at {slip['time']:.0f}" if slip else ""
    drop = meta.get("dropout")
    drop_text = (f"; {drop['location']} drops out for {drop['end'] - drop['start']:.0f} s"
                 if drop else "")
    return (
        f"Simulated {meta['hours']:g} h from {meta['start_iso']} (seed {meta['seed']}) in "
        f"{elapsed:.1f} s: {rows:,} rows ({size_mb:.1f} MB) in {sensors} "
        f"from {rates}{' with ' + ', '.join(extra) if extra else ''}. Realism: {realism}"
        f"{slip_text}{drop_text}.{_wear_text(meta)} Truth episodes: {episodes}; truth_*.csv and "
        f"meta.json are beside it."
    )


def _wear_text(meta: dict) -> str:
    if not meta.get("wear_on"):
        return ""
    off = len([r for r in meta["nonwear"] if r["location"] == "all"])
    return (f" Real wear: {', '.join(meta['wear_on'])}; {len(meta['in_bed'])} nights in bed, "
            f"{off} times all sensors off, {len(meta['slips'])} slips, "
            f"{meta.get('step_count', 0):,} steps.")


def run(args: argparse.Namespace) -> int:
    try:
        config = build_config(args)
    except ValueError as exc:
        print(f"posturewatch simulate: {exc}", file=sys.stderr)
        return 2
    from posturewatch.simulators.recording import record

    started = time.monotonic()
    try:
        meta = record(config, args.out, progress=_progress(config.hours, started), fmt=args.format)
    except OSError as exc:
        sys.stderr.write("\n")
        print(f"posturewatch simulate: cannot write to {args.out}: {exc}", file=sys.stderr)
        return 1
    sys.stderr.write("\n")
    print(summary(meta, args.out, time.monotonic() - started))
    return 0
