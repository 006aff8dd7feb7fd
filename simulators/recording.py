"""Files of a simulated recording: ``sensors.csv`` (or ``sensors.parquet`` in the raw archive's
format), the truth CSVs and ``meta.json``.

``write_recording(day, out_dir)`` writes a ``SimulatedDay``; ``record(config, out_dir)`` generates
and writes a day chunk by chunk without holding it in memory (what ``posturewatch simulate``
uses; the truth is written piece by piece too, see ``wearer.iter_truth``). ``read_truth`` and
``read_sensors`` read the files back for tests and scoring.

Besides the 1 Hz posture/angles and the episodes, the truth has ``truth_in_bed.csv`` (start, end
per night), ``truth_steps.csv`` (ts, leg: each heel strike), ``truth_transitions.csv`` (kind
``sit_to_stand``/``stand_to_sit``, start, end), ``truth_nonwear.csv`` (location or ``all``,
start, end, placement) and ``truth_slips.csv`` (location, time, end, deg, context).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from posturewatch.ingest.archive import ArchiveFile, ArchiveMeta, blocks_table
from posturewatch.ingest.records import ANGLE_NAMES, LOCATIONS, SensorBlock
from posturewatch.simulators import wear_truth
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.schedule import Plan
from posturewatch.simulators.sensors import SensorSpec
from posturewatch.simulators.truth import TruthEpisode
from posturewatch.simulators.wearer import (
    SimulatedDay,
    Truth,
    _generate,
    build_meta,
    iter_truth,
    prepare,
)

SENSORS_CSV = "sensors.csv"
SENSORS_PARQUET = "sensors.parquet"
TRUTH_POSTURE_CSV = "truth_posture.csv"
TRUTH_ANGLES_CSV = "truth_angles.csv"
TRUTH_EPISODES_CSV = "truth_episodes.csv"
TRUTH_IN_BED_CSV = "truth_in_bed.csv"
TRUTH_STEPS_CSV = "truth_steps.csv"
TRUTH_TRANSITIONS_CSV = "truth_transitions.csv"
TRUTH_NONWEAR_CSV = "truth_nonwear.csv"
TRUTH_SLIPS_CSV = "truth_slips.csv"
META_JSON = "meta.json"
MAX_JITTER_S = 0.5  # recorded stamps are never further than this from their nominal instant


def sensor_columns(locations: Iterable[str], gyro: dict[str, bool], mag: bool) -> list[str]:
    """Column names of ``sensors.csv`` after ``timestamp``, in location order."""
    cols = []
    for loc in locations:
        cols += [f"{loc}_a{a}" for a in "xyz"]
        if gyro[loc]:
            cols += [f"{loc}_g{a}" for a in "xyz"]
        if mag:
            cols += [f"{loc}_m{a}" for a in "xyz"]
    return cols


class SensorCsvWriter:
    """Merges per-location blocks into rows (union of ms instants) and appends them to a CSV.

    Blocks must arrive in time order per location; rows are held back until no later block can
    still carry an earlier instant, so the file stays sorted whatever the rates.
    """

    def __init__(self, path: Path, locations: tuple[str, ...], gyro: dict[str, bool],
                 mag: bool) -> None:
        self.locations = locations
        self.gyro, self.mag = gyro, mag
        self.columns = sensor_columns(locations, gyro, mag)
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write((",".join(["timestamp", *self.columns]) + "\n").encode())
        self._pending: dict[str, list[SensorBlock]] = {loc: [] for loc in locations}
        self.rows = 0

    def add(self, blocks: dict[str, SensorBlock]) -> None:
        latest = -np.inf
        for loc, block in blocks.items():
            if len(block):
                self._pending[loc].append(block)
                latest = max(latest, float(block.t[-1]))
        if np.isfinite(latest):
            self._flush(latest - 2 * MAX_JITTER_S)

    def close(self) -> None:
        self._flush(np.inf)
        self._file.close()

    def _flush(self, before: float) -> None:
        parts: dict[str, SensorBlock] = {}
        for loc, pending in self._pending.items():
            if not pending:
                continue
            block = pending[0] if len(pending) == 1 else SensorBlock.concat(pending)
            cut = int(np.searchsorted(block.t, before, side="left"))
            parts[loc] = block.slice(0, cut)
            rest = block.slice(cut, len(block))
            self._pending[loc] = [rest] if len(rest) else []
        ms = {loc: np.round(b.t * 1000.0).astype(np.int64) for loc, b in parts.items() if len(b)}
        if not ms:
            return
        rows = np.unique(np.concatenate(list(ms.values())))
        arrays = [pa.array(rows / 1000.0)]
        for loc in self.locations:
            block = parts.get(loc)
            idx = np.searchsorted(rows, ms[loc]) if loc in ms else None
            for name, on in (("acc", True), ("gyr", self.gyro[loc]), ("mag", self.mag)):
                if not on:
                    continue
                values = np.full((len(rows), 3), np.nan)
                if idx is not None:
                    values[idx] = np.round(getattr(block, name), 4)
                for axis in range(3):
                    col = values[:, axis]
                    arrays.append(pa.array(col, mask=np.isnan(col)))
        table = pa.Table.from_arrays(arrays, names=["timestamp", *self.columns])
        pacsv.write_csv(table, self._file, pacsv.WriteOptions(include_header=False))
        self.rows += len(rows)


class SensorParquetWriter:
    """The samples as one file of the raw archive's schema (docs/archive-format.md), a row group
    per ``row_group_s``, at the CSV's resolution (stamps on whole ms, values to 4 decimals, one
    sample per ms instant) so both formats of one simulated day carry the very same samples."""

    def __init__(self, path: Path, config: WearerConfig, row_group_s: float = 60.0) -> None:
        sensors = {loc: {"family": "simulator", "rate_hz": config.rate_of(loc)}
                   for loc in config.sensor_locations}
        meta = ArchiveMeta(user="simulated", sensors=sensors, source="simulate")
        self._file = ArchiveFile(path, meta, journal=False)
        self.row_group_s = row_group_s
        self.rows = 0

    def add(self, blocks: dict[str, SensorBlock]) -> None:
        parts = [self._csv_resolution(b) for b in blocks.values() if len(b)]
        if not parts:
            return
        t0 = min(float(b.t[0]) for b in parts)
        t1 = max(float(b.t[-1]) for b in parts)
        step = self.row_group_s
        for k in range(int((t1 - t0) // step) + 1):
            lo, hi = t0 + k * step, t0 + (k + 1) * step
            group = [b.slice(int(np.searchsorted(b.t, lo)), int(np.searchsorted(b.t, hi))) for b in parts]
            self._file.write(blocks_table(group))
        self.rows = self._file.rows

    def close(self) -> None:
        self._file.close()

    @staticmethod
    def _csv_resolution(block: SensorBlock) -> SensorBlock:
        ms = np.round(block.t * 1000.0).astype(np.int64)
        last = np.append(ms[1:] != ms[:-1], True)  # the CSV keeps one sample per instant: the last

        def rounded(arr: np.ndarray | None) -> np.ndarray | None:
            return None if arr is None else np.round(arr[last], 4).astype(np.float32)

        return SensorBlock(block.location, ms[last] / 1000.0, rounded(block.acc), rounded(block.gyr),
                           rounded(block.mag))


SENSOR_FORMATS = {"csv": SENSORS_CSV, "parquet": SENSORS_PARQUET}


def _writer_for(config: WearerConfig, out_dir: Path,
                fmt: str = "csv") -> SensorCsvWriter | SensorParquetWriter:
    if fmt == "parquet":
        return SensorParquetWriter(out_dir / SENSORS_PARQUET, config)
    locs = config.sensor_locations
    gyro = {loc: loc not in config.acc_only for loc in locs}
    return SensorCsvWriter(out_dir / SENSORS_CSV, locs, gyro, config.mag)


class TruthWriter:
    """Appends truth pieces to ``truth_posture.csv``, ``truth_angles.csv``,
    ``truth_episodes.csv`` and ``truth_steps.csv``; counts what it wrote."""

    def __init__(self, out_dir: Path, head: bool) -> None:
        self.head = head
        self._files = {}
        for key, name, columns in (
            ("posture", TRUTH_POSTURE_CSV, ["timestamp", "posture"]),
            ("angles", TRUTH_ANGLES_CSV, ["timestamp", *ANGLE_NAMES]),
            ("episodes", TRUTH_EPISODES_CSV, ["kind", "start", "end"]),
            ("steps", TRUTH_STEPS_CSV, ["ts", "leg"]),
        ):
            f = open(out_dir / name, "wb")  # noqa: SIM115 - closed in close()
            f.write((",".join(columns) + "\n").encode())  # a plain header: pyarrow would quote
            self._files[key] = f
        self.episode_counts: dict[str, int] = {}
        self.steps = 0

    def add(self, truth: Truth) -> None:
        ts = pa.array(np.round(truth.t_1hz, 3))
        posture = pa.array(Truth.labels(truth.posture_1hz).astype(str))
        self._append("posture", pa.table({"timestamp": ts, "posture": posture}))
        cols = {"timestamp": ts}
        for name in ANGLE_NAMES:
            values = np.round(truth.angles_1hz[name], 3)
            if name == "neck_flexion" and not self.head:
                values = np.full_like(values, np.nan)
            cols[name] = pa.array(values, mask=np.isnan(values))
        self._append("angles", pa.table(cols))
        eps = truth.episodes
        self._append("episodes", pa.table({
            "kind": pa.array([e.kind for e in eps], pa.string()),
            "start": pa.array([round(e.start, 3) for e in eps], pa.float64()),
            "end": pa.array([round(e.end, 3) for e in eps], pa.float64())}))
        for e in eps:
            self.episode_counts[e.kind] = self.episode_counts.get(e.kind, 0) + 1
        self._append("steps", pa.table({
            "ts": pa.array(np.round(truth.steps_t, 3), pa.float64()),
            "leg": pa.array([str(x) for x in truth.steps_leg], pa.string())}))
        self.steps += len(truth.steps_t)

    def _append(self, key: str, table: pa.Table) -> None:
        if table.num_rows:
            pacsv.write_csv(table, self._files[key],
                            pacsv.WriteOptions(include_header=False, quoting_style="none"))

    def close(self) -> None:
        for f in self._files.values():
            f.close()


def write_truth(truth: Truth, out_dir: Path, head: bool) -> None:
    """``truth_posture.csv``, ``truth_angles.csv``, ``truth_episodes.csv``, ``truth_steps.csv``."""
    writer = TruthWriter(out_dir, head)
    try:
        writer.add(truth)
    finally:
        writer.close()


def write_wear_truth(config: WearerConfig, plan: Plan, specs: dict[str, SensorSpec],
                     out_dir: Path) -> None:
    """``truth_in_bed.csv``, ``truth_transitions.csv``, ``truth_nonwear.csv``, ``truth_slips.csv``."""
    locs = config.sensor_locations
    f64, text = pa.float64(), pa.string()
    _write_table(pa.table({"start": pa.array([a for a, _ in plan.in_bed], f64),
                           "end": pa.array([b for _, b in plan.in_bed], f64)}),
                 out_dir / TRUTH_IN_BED_CSV)
    moves = wear_truth.transitions(plan, locs)
    _write_table(pa.table({"kind": pa.array([k for k, _, _ in moves], text),
                           "start": pa.array([a for _, a, _ in moves], f64),
                           "end": pa.array([b for _, _, b in moves], f64)}),
                 out_dir / TRUTH_TRANSITIONS_CSV)
    off = wear_truth.nonwear_rows(plan, locs)
    _write_table(pa.table({"location": pa.array([r["location"] for r in off], text),
                           "start": pa.array([r["start"] for r in off], f64),
                           "end": pa.array([r["end"] for r in off], f64),
                           "placement": pa.array([r["placement"] for r in off], text)}),
                 out_dir / TRUTH_NONWEAR_CSV)
    slips = wear_truth.slip_rows(specs)
    _write_table(pa.table({key: pa.array([r[key] for r in slips], text if key in (
        "location", "context") else f64) for key in ("location", "time", "end", "deg", "context")}),
                 out_dir / TRUTH_SLIPS_CSV)


def _write_table(table: pa.Table, path: Path) -> None:
    with open(path, "wb") as f:  # a plain header line: pyarrow would quote the names
        f.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False, quoting_style="none"))


def _write_meta(meta: dict, out_dir: Path) -> None:
    def plain(x):
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
        raise TypeError(f"not JSON serialisable: {type(x)}")

    (out_dir / META_JSON).write_text(json.dumps(meta, indent=1, default=plain))


def write_recording(day: SimulatedDay, out_dir: str | Path, window_s: float = 600.0) -> Path:
    """Write a simulated day into ``out_dir`` (created if needed); returns the directory."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _writer_for(day.config, out_dir)
    try:
        n = max(1, int(np.ceil(day.config.duration_s / window_s)))
        cuts_at = day.config.start + window_s * np.arange(1, n)
        cuts = {loc: [0, *np.searchsorted(b.t, cuts_at).tolist(), len(b)]
                for loc, b in day.blocks.items()}
        for w in range(n):
            writer.add({loc: b.slice(cuts[loc][w], cuts[loc][w + 1])
                        for loc, b in day.blocks.items()})
    finally:
        writer.close()
    write_truth(day.truth, out_dir, day.config.has_head)
    plan, specs = (day.plan, day.specs) if day.plan is not None else prepare(day.config)
    write_wear_truth(day.config, plan, specs, out_dir)
    _write_meta({**day.meta, "csv_rows": writer.rows}, out_dir)
    return out_dir


def record(config: WearerConfig, out_dir: str | Path,
           progress: Callable[[float], None] | None = None, fmt: str = "csv") -> dict:
    """Generate a day and write it chunk by chunk (bounded memory); returns the meta dict.

    ``fmt`` ``"csv"`` writes ``sensors.csv``, ``"parquet"`` ``sensors.parquet`` in the raw
    archive's format (same samples)."""
    if fmt not in SENSOR_FORMATS:
        raise ValueError(f"format must be one of {', '.join(SENSOR_FORMATS)}, got {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan, specs = prepare(config)
    writer = _writer_for(config, out_dir, fmt)
    samples = dict.fromkeys(specs, 0)
    n_chunks = int(np.ceil(config.duration_s / 600.0 - 1e-9))
    try:
        for chunk, parts in _generate(config, plan, specs):
            writer.add({loc: block for loc, (block, _) in parts.items()})
            for loc, (block, _) in parts.items():
                samples[loc] += len(block)
            if progress is not None:
                progress(0.95 * (chunk + 1) / n_chunks)
    finally:
        writer.close()
    truths = TruthWriter(out_dir, config.has_head)
    try:
        for piece in iter_truth(config, plan):
            truths.add(piece)
            del piece
    finally:
        truths.close()
    write_wear_truth(config, plan, specs, out_dir)
    meta = build_meta(config, plan, specs)
    meta["truth_episode_counts"] = truths.episode_counts
    meta["step_count"] = truths.steps
    meta["csv_rows" if fmt == "csv" else "parquet_rows"] = writer.rows
    meta["sensors_file"] = SENSOR_FORMATS[fmt]
    meta["samples"] = samples
    _write_meta(meta, out_dir)
    if progress is not None:
        progress(1.0)
    return meta


@dataclass
class RecordedTruth:
    """The truth files read back: 1 Hz posture labels and angles, episodes, meta."""

    t: np.ndarray
    posture: np.ndarray  # str labels
    angles: dict[str, np.ndarray]
    episodes: list[TruthEpisode]  # confirmed/peak/mean are NaN: the file holds kind, start, end
    meta: dict


def read_truth(out_dir: str | Path) -> RecordedTruth:
    """Read ``truth_*.csv`` and ``meta.json`` of a simulated recording."""
    out_dir = Path(out_dir)
    posture = pacsv.read_csv(out_dir / TRUTH_POSTURE_CSV)
    angles = pacsv.read_csv(out_dir / TRUTH_ANGLES_CSV, convert_options=pacsv.ConvertOptions(
        column_types={name: pa.float64() for name in ANGLE_NAMES}))
    eps = pacsv.read_csv(out_dir / TRUTH_EPISODES_CSV, convert_options=pacsv.ConvertOptions(
        column_types={"kind": pa.string(), "start": pa.float64(), "end": pa.float64()}))
    nan = float("nan")
    episodes = [TruthEpisode(k, s, e, nan, nan, nan) for k, s, e in zip(
        eps["kind"].to_pylist(), eps["start"].to_pylist(), eps["end"].to_pylist(), strict=True)]
    return RecordedTruth(
        t=posture["timestamp"].to_numpy(),
        posture=np.asarray(posture["posture"].to_pylist(), dtype=object),
        angles={name: angles[name].to_numpy(zero_copy_only=False) for name in ANGLE_NAMES},
        episodes=episodes,
        meta=json.loads((out_dir / META_JSON).read_text()),
    )


def read_sensors(path: str | Path) -> dict[str, SensorBlock]:
    """Read a ``sensors.csv`` (our own writer's format) back into per-location blocks."""
    table = pacsv.read_csv(path)
    names = set(table.column_names)
    t_all = table["timestamp"].to_numpy()
    out = {}
    for loc in LOCATIONS:
        if f"{loc}_ax" not in names:
            continue

        def triple(prefix: str, loc: str = loc) -> np.ndarray | None:
            cols = [f"{loc}_{prefix}{a}" for a in "xyz"]
            if cols[0] not in names:
                return None
            return np.stack([table[c].to_numpy(zero_copy_only=False).astype(float) for c in cols], 1)

        acc = triple("a")
        present = ~np.isnan(acc[:, 0])
        gyr, mag = triple("g"), triple("m")
        out[loc] = SensorBlock(loc, t_all[present], acc[present],
                               None if gyr is None else gyr[present],
                               None if mag is None else mag[present])
    return out
