"""Cutting a simulated recording into the chunks a live source would hand over (tests' helper)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from posturewatch.ingest.records import SensorBlock


def live_chunks(blocks: Mapping[str, SensorBlock], start: float, end: float,
                chunk_s: float) -> Iterator[tuple[float, list[SensorBlock]]]:
    """``(edge, samples before it)`` for edges ``start + chunk_s``, ``start + 2 chunk_s``, … until
    the last chunk that starts before ``end``: each sensor's samples since the previous edge,
    empty ones left out."""
    edge, cursor = start + chunk_s, dict.fromkeys(blocks, 0)
    while edge - chunk_s < end:
        part = []
        for loc, block in blocks.items():
            j = int(np.searchsorted(block.t, edge))
            if j > cursor[loc]:
                part.append(block.slice(cursor[loc], j))
            cursor[loc] = j
        yield edge, part
        edge += chunk_s


def recording_chunks(blocks: Mapping[str, SensorBlock], chunk_s: float) -> Iterator[list[SensorBlock]]:
    """The whole recording in chunks of ``chunk_s`` from its first sample (one empty chunk past
    its last sample closes it)."""
    start = min(float(b.t[0]) for b in blocks.values())
    end = max(float(b.t[-1]) for b in blocks.values())
    for _, part in live_chunks(blocks, start, end + chunk_s, chunk_s):
        yield part
