"""Peak memory of reading one day of a device file (actfast reads whole files, never in blocks).

Writes a 24 h, 100 Hz Axivity file (AX6 with gyroscope by default, ``--ax3`` for the packed
accelerometer-only kind) with the test writer, then reads it in a fresh process with
``ingest.devicefiles.read_device_file`` and prints the peak resident memory against the size of
the decoded arrays (t float64, acc float32, gyro float32) — the ratio is what a reader costs
over the data it hands on. A second child only imports the modules, for the baseline. With
``--replay`` a third child replays the file (``posturewatch replay thigh=FILE``) and prints its
peak: the whole-file read plus the analysis.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys, time
from posturewatch.ingest.devicefiles import read_device_file

def hwm():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over exec)
    line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM"))
    return int(line.split()[1])

base = hwm()
if sys.argv[1] != "-":
    t = time.perf_counter()
    got = read_device_file(sys.argv[1], "thigh")
    print(len(got.block), time.perf_counter() - t)
else:
    print(0, 0.0)
print(base, hwm())
"""
REPLAY_CHILD = """
import sys, time
from posturewatch.app.cli import main

t = time.perf_counter()
try:
    main(["replay", "thigh=" + sys.argv[1], "--out", sys.argv[2]])
except SystemExit:
    pass
line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM"))
print("RESULT", time.perf_counter() - t, int(line.split()[1]))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--ax3", action="store_true", help="packed AX3 file instead of AX6")
    ap.add_argument("--replay", action="store_true", help="also replay the file and report that peak")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "ingest"))
    from devicefile_writers import write_cwa

    n = int(args.hours * 3600 * args.rate)
    rng = np.random.default_rng(0)
    acc = rng.normal(0, 0.05, (n, 3)).astype(np.float32)
    acc[:, 2] += 1.0
    gyr = None if args.ax3 else rng.normal(0, 20, (n, 3)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "day.cwa"
        t = time.perf_counter()
        write_cwa(path, 1_767_225_600.0, args.rate, acc, gyro_dps=gyr)
        print(f"wrote {path.stat().st_size / 2**20:.0f} MiB ({n} samples) in {time.perf_counter() - t:.0f} s")
        del acc, gyr
        runs = {}
        for what in ("-", str(path)):
            out = subprocess.run([sys.executable, "-c", CHILD, what], capture_output=True, text=True,
                                 check=True).stdout.split()
            runs[what] = (int(out[0]), float(out[1]), int(out[2]), int(out[3]))
        if args.replay:
            got = subprocess.run([sys.executable, "-c", REPLAY_CHILD, str(path), str(Path(tmp) / "out")],
                                 capture_output=True, text=True, check=True).stdout.split()
            replay_s, replay_kib = float(got[-2]), int(got[-1])
    baseline = runs["-"][3] / 1024
    samples, seconds, _, peak_kib = runs[str(path)]
    decoded = samples * (8 + 12 + (0 if args.ax3 else 12)) / 2**20
    peak = peak_kib / 1024
    print(f"read {samples} samples in {seconds:.1f} s")
    print(f"peak RSS {peak:.0f} MiB (imports alone {baseline:.0f} MiB); decoded arrays {decoded:.0f} MiB; "
          f"reading costs {(peak - baseline) / decoded:.2f}x the decoded data")
    if args.replay:
        print(f"replay of the file: {replay_s:.0f} s, peak RSS {replay_kib / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
