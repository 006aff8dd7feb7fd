"""Benchmark: reading the same simulated samples from the Parquet archive and from our CSV.

Simulates ``--hours`` of three sensors at 100 Hz once in each format (``simulate --format``
writes the same samples to both), then reads each file ``--repeat`` times and prints the best
samples/s of ``read_recording`` (CSV), ``read_archive`` (Parquet, whole) and ``iter_archive``
(Parquet, streamed row group by row group), the ratio Parquet/CSV, and the file sizes with
what a day of three 50 Hz sensors costs on disk. No assertions: the machines are shared and
noisy; the figures are for reading.

    .venv/bin/python bench/archive_read.py [--hours 4] [--repeat 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from posturewatch.ingest.archive_reader import iter_archive, read_archive
from posturewatch.ingest.recording import read_recording
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.recording import SENSORS_CSV, SENSORS_PARQUET, record


def best_of(repeat: int, read) -> tuple[float, int]:
    """Fastest wall time of ``read()`` and the samples it returned."""
    best, samples = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        samples = read()
        best = min(best, time.perf_counter() - t)
    return best, samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, help="keep the generated files here (default: a temp dir)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pw-bench-archive-"))
    config = WearerConfig(hours=args.hours, seed=args.seed)
    for fmt, name in (("csv", SENSORS_CSV), ("parquet", SENSORS_PARQUET)):
        if not (work / fmt / name).exists():
            record(config, work / fmt, fmt=fmt)
    csv_path, pq_path = work / "csv" / SENSORS_CSV, work / "parquet" / SENSORS_PARQUET

    def csv_read() -> int:
        return sum(len(b) for b in read_recording(csv_path).blocks.values())

    def pq_read() -> int:
        return sum(len(b) for b in read_archive(pq_path).blocks.values())

    def pq_stream() -> int:
        return sum(len(b) for blocks in iter_archive(pq_path) for b in blocks)

    t_csv, n_csv = best_of(args.repeat, csv_read)
    t_pq, n_pq = best_of(args.repeat, pq_read)
    t_it, n_it = best_of(args.repeat, pq_stream)
    if not n_csv == n_pq == n_it:
        print(f"WARNING: sample counts differ: csv {n_csv}, parquet {n_pq}, streamed {n_it}")
    csv_mb, pq_mb = csv_path.stat().st_size / 1e6, pq_path.stat().st_size / 1e6
    print(f"{args.hours:g} h, 3 sensors at 100 Hz: {n_csv:,} samples (best of {args.repeat})")
    print(f"  CSV      read_recording  {n_csv / t_csv:12,.0f} samples/s  ({t_csv:.2f} s, {csv_mb:.1f} MB)")
    print(f"  Parquet  read_archive    {n_pq / t_pq:12,.0f} samples/s  ({t_pq:.2f} s, {pq_mb:.1f} MB)")
    print(f"  Parquet  iter_archive    {n_it / t_it:12,.0f} samples/s  ({t_it:.2f} s, streamed)")
    print(f"  ratio Parquet/CSV: read {t_csv / t_pq:.1f}x faster, streamed {t_csv / t_it:.1f}x; "
          f"file {csv_mb / pq_mb:.1f}x smaller")
    per_sample = pq_path.stat().st_size / n_pq
    print(f"  {per_sample:.1f} bytes per sample: a day of three 50 Hz sensors ≈ "
          f"{per_sample * 3 * 50 * 86400 / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
