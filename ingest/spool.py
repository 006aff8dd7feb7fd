"""A recording's decoded batches kept on disk between the two passes of a replay.

Parsing a CSV costs far more than the analysis of what it holds, and a replay reads its file
twice (features first, then the analysis). The first pass therefore writes each batch it
decoded to a spool — the sample arrays as raw bytes in an unnamed temporary file — and the
second pass reads them back: the same samples, bit for bit, at the cost of a file read. Memory
stays one batch; the disk holds about 32 bytes per sample with a gyroscope (≈ 0.8 GB a day for
three sensors at 100 Hz), given back when the spool closes. The file lives in the folder given
(the results' folder), not in /tmp, which is often in memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posturewatch.ingest.records import SensorBlock

_FIELDS = ("t", "acc", "gyr", "mag")


@dataclass(frozen=True, slots=True)  # a week holds tens of thousands: kept small
class _Entry:
    location: str
    n: int
    arrays: tuple[tuple[str, str, int] | None, ...]  # per field: dtype, columns (0 = 1-D), or None


class BlockSpool:
    """``add`` batches in order, then read them back with ``batches()`` (as often as needed)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self._fh = tempfile.TemporaryFile(prefix=".posturewatch-spool-", dir=directory)  # noqa: SIM115
        self._index: list[list[_Entry]] = []
        self._layouts: dict[tuple, tuple] = {}  # the few distinct array layouts, shared by the entries
        self.bytes = 0

    def add(self, batch: Mapping[str, SensorBlock]) -> None:
        entries = []
        for loc, b in batch.items():
            arrays = []
            for name in _FIELDS:
                arr = getattr(b, name)
                if arr is None:
                    arrays.append(None)
                    continue
                arr = np.ascontiguousarray(arr)
                self._fh.write(memoryview(arr).cast("B"))
                self.bytes += arr.nbytes
                arrays.append((arr.dtype.str, arr.shape[1] if arr.ndim == 2 else 0))
            layout = tuple(arrays)
            entries.append(_Entry(loc, len(b), self._layouts.setdefault(layout, layout)))
        self._index.append(entries)

    def batches(self, progress=None) -> Iterator[dict[str, SensorBlock]]:
        self._fh.flush()
        self._fh.seek(0)
        for k, entries in enumerate(self._index):
            batch = {}
            for e in entries:
                got = []
                for spec in e.arrays:
                    if spec is None:
                        got.append(None)
                        continue
                    dtype, cols = spec
                    arr = np.fromfile(self._fh, dtype=dtype, count=e.n * max(cols, 1))
                    got.append(arr.reshape(e.n, cols) if cols else arr)
                batch[e.location] = SensorBlock(e.location, *got)
            if progress:
                progress((k + 1) / len(self._index))
            yield batch

    def close(self) -> None:
        self._fh.close()
