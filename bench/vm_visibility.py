"""How long VictoriaMetrics takes to make a written point searchable, measured alone.

A tiny writer sends one point at a time through the same InfluxDB line-protocol endpoint the
sink uses (``/api/v2/write``) and then polls ``/api/v1/export`` every ``--poll`` seconds until the
point shows up. Printed per case: write call time, and write-returned → visible (p50/p90/p99/max).
Cases: an existing series (the steady state); a brand-new series (a wearer's first point);
a new series that a reader had already asked for before it existed (a dashboard watching a
wearer who has not sent yet: the database caches the empty answer to that filter for seconds).

Single-node VictoriaMetrics keeps ingested rows in an in-memory buffer that a background task
turns into searchable parts on a fixed one-second tick (a constant in its storage code, not a
flag), so "visible" lags "written" by up to that tick and more when the tick is missed. Only the
test endpoint ``/internal/force_flush`` short-cuts it; the product never calls it.

    .venv/bin/python bench/vm_visibility.py --points 60
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import VictoriaMetricsServer  # noqa: E402


def write_line(url: str, line: str) -> None:
    req = urllib.request.Request(url + "/api/v2/write?precision=ms", data=line.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10):
        pass


def visible(url: str, match: str, ts_ms: int) -> bool:
    body = urllib.parse.urlencode({"match[]": match, "start": f"{ts_ms / 1000 - 1:.3f}"}).encode()
    with urllib.request.urlopen(url + "/api/v1/export", data=body, timeout=10) as resp:
        return any(ts_ms in json.loads(line)["timestamps"] for line in resp.read().decode().splitlines()
                   if line)


def one_point(url: str, series: str, poll_s: float, *, asked_before: bool = False,
              timeout_s: float = 20.0) -> tuple[float, float, int]:
    """(write call s, written → first poll that saw it s, polls made). ``asked_before``: the
    series is queried once before its point is written (a dashboard already watching)."""
    match = f'vis_value{{series="{series}"}}'
    if asked_before:
        visible(url, match, 0)
    ts_ms = int(time.time() * 1000)
    t0 = time.time()
    write_line(url, f"vis,series={series} value=1 {ts_ms}")
    t1 = time.time()
    polls = 0
    while time.time() - t1 < timeout_s:
        polls += 1
        asked = time.time()  # the query saw the point no later than when it was sent
        if visible(url, match, ts_ms):
            return t1 - t0, asked - t1, polls
        time.sleep(poll_s)
    return t1 - t0, float("inf"), polls


def quantiles(values: list[float]) -> str:
    v = sorted(values)
    q = lambda p: v[min(len(v) - 1, int(p * len(v)))]  # noqa: E731
    return (f"p50 {statistics.median(v):.3f}  p90 {q(0.9):.3f}  p99 {q(0.99):.3f}  max {v[-1]:.3f}  "
            f"mean {statistics.fmean(v):.3f} s")


CASES = ("existing series", "new series", "new, asked before")


def measure(url: str, points: int, poll_s: float, seed: int = 0) -> dict[str, dict[str, list[float]]]:
    rng = random.Random(seed)
    out: dict[str, dict[str, list[float]]] = {}
    write_line(url, f"vis,series=steady value=0 {int(time.time() * 1000) - 5000}")
    time.sleep(3)  # the steady series is registered before it is measured
    for case in CASES:
        calls, lags = [], []
        for i in range(points if case == "existing series" else max(3, points // 4)):
            time.sleep(rng.uniform(0.0, 1.0))  # a random phase against the database's tick
            series = "steady" if case == "existing series" else f"new{i}-{rng.randrange(10**9)}"
            call, lag, _ = one_point(url, series, poll_s, asked_before=case == CASES[2])
            calls.append(call)
            lags.append(lag)
        out[case] = {"write call": calls, "written -> visible": lags}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=60, help="points per case")
    p.add_argument("--poll", type=float, default=0.02, help="seconds between export polls")
    p.add_argument("--url", help="an existing VictoriaMetrics (default: a private one)")
    args = p.parse_args(argv)
    if args.url:
        result = measure(args.url, args.points, args.poll)
    else:
        with tempfile.TemporaryDirectory() as tmp, VictoriaMetricsServer(Path(tmp) / "vm") as db:
            result = measure(db.url, args.points, args.poll)
    print(f"VictoriaMetrics visibility, {args.points} points per case, "
          f"polled every {args.poll * 1000:.0f} ms")
    for case, figures in result.items():
        for name, values in figures.items():
            print(f"  {case:18s} {name:20s} {quantiles(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
