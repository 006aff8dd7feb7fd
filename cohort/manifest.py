"""A study's recordings, from a manifest CSV or a folder, checked before any work starts.

Manifest columns (one row per participant; an empty cell means the default):

- ``participant`` (required): the id, also the name of the participant's result folder
  (letters, digits, ``.``, ``_``, ``-``).
- ``file``: one combined CSV (every sensor's columns), or ``files``: ``LOCATION=FILE`` items
  separated by spaces or ``;``; or one column per location (``pelvis``, ``thigh``, ``thorax``,
  ``head``) naming that sensor's file (.cwa, .gt3x, .bin or a per-location CSV).
- ``tz``: IANA zone of the recording's local date-times and device clocks, and of the wearer's
  days (it sets ``alerts.timezone`` unless an override names that key).
- ``config``: a TOML config for this participant (instead of ``--config``).
- ``acc_unit``, ``gyro_unit``, ``time_unit``: as the ``replay`` options of the same names.
- any ``SECTION.KEY`` column (e.g. ``episodes.tilt_enter``, ``mounting.thigh.superior``): a
  config override; the cell is read as a TOML value (``-20``, ``true``), or as text.

Relative paths are relative to the manifest's folder. A folder instead of a manifest holds one
participant per combined CSV (named after the file) or per sub-folder: a sub-folder holds one
file per location named after it (``thigh.cwa``, ``pelvis_1234.bin``), or a combined
``sensors.csv`` as ``posturewatch simulate`` writes it.

Every problem (missing file, unknown location or column, bad time zone, unit or config,
repeated participant) is a one-line ``ManifestError`` message; all are collected first.
"""

from __future__ import annotations

import copy
import csv
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posturewatch.ingest.devicefiles import DEVICE_SUFFIXES
from posturewatch.ingest.records import LOCATIONS
from posturewatch.ingest.timestamps import TIME_UNITS, TimestampError, check_zone
from posturewatch.runtime import config as configuration

UNITS = {"acc_unit": ("auto", "m/s2", "g"), "gyro_unit": ("auto", "rad/s", "deg/s"),
         "time_unit": tuple(TIME_UNITS)}
KNOWN_COLUMNS = {"participant", "file", "files", "tz", "config", *LOCATIONS, *UNITS}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DATA_SUFFIXES = {".csv", *DEVICE_SUFFIXES}


class ManifestError(ValueError):
    """Everything wrong with a manifest, one line per problem (``lines``)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass
class RecordingSpec:
    """One participant's recording and how to read and analyse it (picklable: sent to workers)."""

    participant: str
    combined: Path | None = None  # one CSV with every sensor's columns
    files: dict[str, Path] = field(default_factory=dict)  # or one file per location
    tz: str | None = None
    acc_unit: str = "auto"
    gyro_unit: str | None = None  # None: as replay (rad/s combined, told from the data per location)
    time_unit: str = "auto"
    align: bool = True
    settings: dict[str, Any] = field(default_factory=dict)  # the effective TOML mapping

    def inputs(self) -> list[Path]:
        return [self.combined] if self.combined else list(self.files.values())

    def config(self) -> configuration.Config:
        return configuration.from_mapping(copy.deepcopy(self.settings))


@dataclass
class Defaults:
    """What the command line gives every participant."""

    config: Path | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    tz: str | None = None
    acc_unit: str = "auto"
    gyro_unit: str | None = None
    time_unit: str = "auto"
    align: bool = True


def parse_override(item: str) -> tuple[str, str]:
    """``"episodes.tilt_enter=-20"`` → (key, text); a ValueError says why not."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or "." not in key or not all(key.split(".")):
        raise ValueError(f"{item!r}: expected SECTION.KEY=VALUE, e.g. episodes.tilt_enter=-20")
    return key, value.strip()


def _value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def effective_settings(config_path: Path | None, overrides: dict[str, str], tz: str | None) -> dict:
    """The TOML mapping a participant is analysed with (a ConfigError says what is wrong)."""
    mapping: dict[str, Any] = {}
    if config_path is not None:
        try:
            mapping = tomllib.loads(config_path.read_text())
        except FileNotFoundError:
            raise configuration.ConfigError(f"{config_path}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise configuration.ConfigError(f"{config_path}: not valid TOML: {exc}") from None
    if tz and "alerts.timezone" not in overrides:
        overrides = {**overrides, "alerts.timezone": tz}
    for key, text in overrides.items():
        *parents, leaf = key.split(".")
        table = mapping
        for part in parents:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise configuration.ConfigError(f"override {key}: {part} is not a table")
        table[leaf] = _value(text)
    configuration.from_mapping(copy.deepcopy(mapping), config_path)  # every key checked now
    return mapping


def _split_files(text: str) -> list[str]:
    return [p for p in re.split(r"[;\s]+", text.strip()) if p]


class _Checker:
    def __init__(self, defaults: Defaults) -> None:
        self.defaults = defaults
        self.errors: list[str] = []
        self.seen: set[str] = set()

    def spec(self, where: str, participant: str, combined: Path | None, files: dict[str, Path],
             cells: dict[str, str], base: Path, n_errors: int | None = None) -> RecordingSpec | None:
        """A checked spec, or None with the problems added; ``n_errors`` counts the errors before
        this row's (a row whose files were already refused is not also told it has none)."""
        n_errors = len(self.errors) if n_errors is None else n_errors
        err = self.errors.append
        if not _ID.match(participant):
            err(f"{where}: participant {participant!r} is not a usable folder name "
                "(letters, digits, '.', '_', '-')")
        elif participant in self.seen:
            err(f"{where}: participant {participant} appears twice")
        self.seen.add(participant)
        if combined is None and not files and len(self.errors) == n_errors:
            err(f"{where}: no recording: give 'file', 'files' or a location column")
        if combined is not None and files:
            err(f"{where}: give either one combined file or files per location, not both")
        for loc, path in ([("file", combined)] if combined else []) + list(files.items()):
            if not path.is_file():
                err(f"{where}: {loc}: {path}: no such file")
        tz = cells.get("tz") or self.defaults.tz
        try:
            check_zone(tz)
        except TimestampError as exc:
            err(f"{where}: {exc}")
            tz = None
        units = {}
        for name, allowed in UNITS.items():
            value = cells.get(name) or getattr(self.defaults, name)
            if value is not None and value not in allowed:
                err(f"{where}: {name} {value!r}: use one of {', '.join(allowed)}")
            units[name] = value
        config_path = self.defaults.config
        if cells.get("config"):
            config_path = base / cells["config"]
        overrides = dict(self.defaults.overrides)
        overrides.update({k: v for k, v in cells.items() if "." in k and v})
        settings: dict[str, Any] = {}
        try:
            settings = effective_settings(config_path, overrides, tz)
        except configuration.ConfigError as exc:
            err(f"{where}: config: {exc}")
        if len(self.errors) > n_errors:
            return None
        return RecordingSpec(participant, combined, files, tz, units["acc_unit"], units["gyro_unit"],
                             units["time_unit"], self.defaults.align, settings)

    def location_files(self, where: str, items: list[str], base: Path) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for item in items:
            loc, sep, path = item.partition("=")
            loc = loc.strip().lower()
            if not sep or not path:
                self.errors.append(f"{where}: {item!r}: expected LOCATION=FILE, e.g. thigh=thigh.cwa")
            elif loc not in LOCATIONS:
                self.errors.append(f"{where}: {item!r}: unknown location {loc!r}; "
                                   f"use one of {', '.join(LOCATIONS)}")
            elif loc in out:
                self.errors.append(f"{where}: {loc} given twice")
            else:
                out[loc] = base / path
        return out


def read_manifest(path: Path, defaults: Defaults) -> list[RecordingSpec]:
    """The checked recordings of a manifest CSV; raises ManifestError listing every problem."""
    checker = _Checker(defaults)
    base = path.parent
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            header = rows and list(rows[0]) or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError([f"{path}: cannot read the manifest: {exc}"]) from None
    if not rows:
        raise ManifestError([f"{path}: no participants (a header and one row per participant)"])
    header = [h.strip() for h in header if h is not None]
    unknown = [h for h in header if h not in KNOWN_COLUMNS and "." not in h]
    if unknown:
        raise ManifestError([f"{path}: unknown column(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(KNOWN_COLUMNS))} and SECTION.KEY overrides"])
    if "participant" not in header:
        raise ManifestError([f"{path}: a 'participant' column is required"])
    specs = []
    for n, row in enumerate(rows, start=2):
        if None in row:
            checker.errors.append(f"{path.name} line {n}: more cells than columns")
            continue
        cells = {k.strip(): (v or "").strip() for k, v in row.items()}
        participant = cells.get("participant", "")
        where = f"{path.name} line {n} ({participant or 'no participant'})"
        combined = None
        n_errors = len(checker.errors)
        items = [f"{loc}={cells[loc]}" for loc in LOCATIONS if cells.get(loc)]
        items += _split_files(cells.get("files", ""))
        single = cells.get("file", "")
        if single and "=" in single:
            items += _split_files(single)
        elif single:
            combined = base / single
        files = checker.location_files(where, items, base)
        spec = checker.spec(where, participant, combined, files, cells, base, n_errors)
        if spec:
            specs.append(spec)
    if checker.errors:
        raise ManifestError(checker.errors)
    return specs


def _location_of(path: Path) -> str | None:
    first = re.split(r"[_\-. ]", path.stem.lower(), maxsplit=1)[0]
    return first if first in LOCATIONS else None


def scan_folder(folder: Path, defaults: Defaults) -> list[RecordingSpec]:
    """One participant per combined CSV or sub-folder of ``folder``; see the module docstring."""
    checker = _Checker(defaults)
    specs = []
    for entry in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        where = f"{entry}"
        if entry.is_file() and entry.suffix.lower() == ".csv":
            spec = checker.spec(where, entry.stem, entry, {}, {}, folder)
        elif entry.is_dir():
            data = sorted(p for p in entry.iterdir() if p.is_file() and p.suffix.lower() in _DATA_SUFFIXES
                          and not p.name.startswith((".", "truth_")))
            located = {p: _location_of(p) for p in data}
            if any(located.values()):
                files = {}
                for p, loc in located.items():
                    if loc is None:
                        checker.errors.append(f"{p}: unknown location; name the file after one of "
                                              f"{', '.join(LOCATIONS)} (e.g. thigh.cwa)")
                    elif loc in files:
                        checker.errors.append(f"{p}: a second {loc} file in {entry}")
                    else:
                        files[loc] = p
                spec = checker.spec(where, entry.name, None, files, {}, folder)
            elif (entry / "sensors.csv").is_file() or len(data) == 1:
                combined = entry / "sensors.csv" if (entry / "sensors.csv").is_file() else data[0]
                spec = checker.spec(where, entry.name, combined, {}, {}, folder)
            else:
                checker.errors.append(f"{entry}: no recording found (files named after their location, "
                                      "or one combined CSV)")
                continue
        else:
            continue
        if spec:
            specs.append(spec)
    if not specs and not checker.errors:
        checker.errors.append(f"{folder}: no recordings (CSV files or sub-folders of device files)")
    if checker.errors:
        raise ManifestError(checker.errors)
    return specs


def load_specs(source: Path, defaults: Defaults) -> list[RecordingSpec]:
    """A manifest file or a folder of recordings."""
    if source.is_dir():
        return scan_folder(source, defaults)
    if not source.is_file():
        raise ManifestError([f"{source}: no such manifest or folder"])
    return read_manifest(source, defaults)
