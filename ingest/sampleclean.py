"""Decoded columns of one sensor → a clean SensorBlock: bad stamps and samples counted and dropped,
time order restored, repeated instants dropped. Shared by the per-location file readers.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from posturewatch.ingest.records import SensorBlock
from posturewatch.ingest.timestamps import broken_stamps


def clean_block(location: str, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray | None,
                counts: Counter[str], notes: list[str]) -> SensorBlock | None:
    """The valid samples in time order, or None (with a note) when fewer than two remain."""
    stamps: Counter[str] = Counter()
    keep = ~broken_stamps(t, stamps) & np.isfinite(t) & np.isfinite(acc).all(axis=1)
    counts.update({f"{location}_{k}": n for k, n in stamps.items()})
    if gyr is not None:
        keep &= np.isfinite(gyr).all(axis=1)
    counts[f"{location}_bad_sample"] += int((~keep & np.isfinite(t)).sum())
    if keep.all() and (np.diff(t) > 0).all():  # the usual case: no copy of a day's arrays
        block = SensorBlock(location, t, acc, gyr)
    else:
        idx = np.flatnonzero(keep)
        idx = idx[np.argsort(t[idx], kind="stable")]
        out_of_order = int((np.diff(t[np.flatnonzero(keep)]) < 0).sum())
        counts[f"{location}_out_of_order"] += out_of_order
        distinct = np.concatenate(([True], np.diff(t[idx]) > 0)) if len(idx) else np.zeros(0, bool)
        counts[f"{location}_duplicate_timestamp"] += int((~distinct).sum())
        idx = idx[distinct]
        block = SensorBlock(location, t[idx], acc[idx], None if gyr is None else gyr[idx])
    for key in [k for k, n in counts.items() if n == 0]:
        del counts[key]
    if len(block) < 2:
        notes.append(f"{location}: fewer than two valid samples; location ignored")
        return None
    return block
