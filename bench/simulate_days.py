"""Benchmark: peak memory of `posturewatch simulate --days N --real-wear` for several N.

Each run is its own process (3 sensors, 100 Hz, written to disk); prints wall time, output size
and peak RSS per run and the RSS ratio against the first (1 day), which should stay near 1: the
simulator streams sensor chunks, the wander table and the truth, so memory must not grow with
the number of days. No assertions: the machines are shared, figures are for reading.

    .venv/bin/python bench/simulate_days.py [--days 1 3] [--rate 100] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RSS_PROBE = ("import resource, sys; sys.argv = ['posturewatch'] + sys.argv[1:]; "
             "from posturewatch.app.cli import main; code = main(); "
             "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
             "file=sys.stderr); sys.exit(code)")


def run(days: int, rate: float, work: Path) -> tuple[float, float, float]:
    out = work / f"days{days}"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RSS_PROBE, "simulate", "--days", str(days),
                           "--real-wear", "--rate", str(rate), "--out", str(out)],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"simulate --days {days} failed: {proc.stderr[-500:]}")
    rss_kb = float(proc.stderr.rsplit("peak_rss_kb", 1)[1].split()[0])
    size_mb = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    shutil.rmtree(out)
    return elapsed, size_mb, rss_kb / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="simdays"))
    work.mkdir(parents=True, exist_ok=True)
    first = None
    for days in args.days:
        elapsed, size_mb, rss_mb = run(days, args.rate, work)
        first = first or rss_mb
        print(f"--days {days}: {elapsed:7.1f} s, {size_mb:8.0f} MB written, peak RSS "
              f"{rss_mb:6.0f} MB (× {rss_mb / first:.2f} of the first run)")


if __name__ == "__main__":
    main()
