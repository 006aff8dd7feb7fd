"""What a replay's summary says about its segments and its sensors' clocks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from posturewatch.ingest.align import ClockModel
from posturewatch.ingest.prepass import Segment


def segment_notes(segments: list[Segment], show: int = 12) -> list[str]:
    """The summary's list of segments (the first and last ones when there are many)."""
    if len(segments) == 1:
        return []
    notes = [f"{len(segments)} segments (gaps longer than the limit split the analysis):"]
    listed = segments if len(segments) <= show else segments[: show // 2] + segments[-show // 2 :]
    for seg in listed:
        i = segments.index(seg)
        if len(segments) > show and i == len(segments) - show // 2:
            notes.append(f"  … {len(segments) - show} more")
        gap = "" if i == 0 else f", after a gap of {_span(seg.start - segments[i - 1].end)}"
        notes.append(f"  segment {i + 1}: {_utc(seg.start)} → {_utc(seg.end)} ({_span(seg.end - seg.start)}"
                     f", {seg.samples} samples{gap})")
    return notes


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def clock_notes(clocks: Mapping[str, ClockModel], segments: int = 1) -> list[str]:
    """What the summary says about each sensor's clock (of the longest segment, when several)."""
    notes = []
    where = " in the longest segment" if segments > 1 else ""
    reference = next((k for k, m in clocks.items() if m.status == "reference"), "the reference")
    for loc, model in clocks.items():
        if model.estimated:
            notes.append(
                f"{loc}: clock aligned to the {reference}'s{where}: "
                f"offset {model.offset * 1000:+.0f} ms, drift {model.drift * 1e6:+.1f} ppm "
                f"({model.n_windows} windows)"
            )
        elif model.status != "reference":
            why = model.status.replace("_", " ")
            notes.append(f"{loc}: clock not aligned{where} ({why}); its timestamps are used as recorded")
    return notes
