"""One file per worn location — device files (.cwa, .gt3x, .bin) or generic CSVs — read into the
same ``Recording`` (blocks + read report) that ``read_recording`` gives for our combined CSV.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from posturewatch.ingest.devicefiles import DEVICE_SUFFIXES, DeviceFileError, read_device_file
from posturewatch.ingest.percsv import ColumnError, read_location_csv
from posturewatch.ingest.recording import ReadReport, Recording, RecordingError
from posturewatch.ingest.records import LOCATIONS
from posturewatch.ingest.timestamps import TimestampError, check_zone


def parse_location_args(items: list[str]) -> dict[str, Path]:
    """``["thigh=T.cwa", "pelvis=P.bin"]`` → {location: path}, or a RecordingError saying why not."""
    out: dict[str, Path] = {}
    for item in items:
        loc, sep, path = item.partition("=")
        loc = loc.strip().lower()
        if not sep or not path:
            raise RecordingError(f"{item!r}: expected LOCATION=FILE, e.g. thigh=thigh.cwa")
        if loc not in LOCATIONS:
            raise RecordingError(f"{item!r}: unknown location {loc!r}; use one of {', '.join(LOCATIONS)}")
        if loc in out:
            raise RecordingError(f"{loc} given twice")
        out[loc] = Path(path)
    return out


def read_location_files(
    files: Mapping[str, str | Path],
    time_unit: str = "auto",
    tz: str | None = None,
    acc_unit: str = "auto",
    gyro_unit: str = "auto",
    columns: Mapping[str, Mapping[str, object]] | None = None,
    progress: Callable[[float], None] | None = None,
) -> Recording:
    """Read each location's file: device files by suffix, anything else as a generic CSV.

    ``time_unit`` and ``tz`` say how CSV timestamps are written (see ingest.timestamps); for a
    device file ``tz`` names the zone its clock was set to. ``columns`` maps a location to the
    column names of its CSV when they cannot be told from the header.
    """
    try:
        check_zone(tz)
    except TimestampError as exc:
        raise RecordingError(str(exc)) from exc
    report = ReadReport()
    blocks = {}
    for k, (loc, path) in enumerate(files.items()):
        if loc not in LOCATIONS:
            raise RecordingError(f"unknown location {loc!r}; use one of {', '.join(LOCATIONS)}")
        path = Path(path)
        if not path.is_file():
            raise RecordingError(f"{loc}: {path}: no such file")
        try:
            if path.suffix.lower() in DEVICE_SUFFIXES:
                got = read_device_file(path, loc, tz)
                block, counts, notes = got.block, got.counts, got.notes
            else:
                block, counts, notes = read_location_csv(path, loc, (columns or {}).get(loc), time_unit,
                                                         tz, acc_unit, gyro_unit)
        except (DeviceFileError, ColumnError, TimestampError) as exc:
            raise RecordingError(str(exc)) from exc
        report.bad.update(counts)
        report.notes.extend(notes)
        if block is not None:
            blocks[loc] = block
            report.samples[loc] = len(block)
            report.rows += len(block)
        if progress:
            progress((k + 1) / len(files))
    return Recording(blocks, report)
