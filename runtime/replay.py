"""Replay: the session over a recorded file of any length, with results written as CSV.

The recorded file is one more source for the same session the daemon and the demo run
(``FileSource``), read in two passes so memory never depends on the recording's length:

1. a first pass reduces each sensor to compact features (``ingest.prepass``): the segments (a gap
   longer than ``[episodes] max_gap_s`` restarts the analysis), each segment's clock models
   aligned from content six hours at a time, and per-second features from which the mountings
   are learnt from the first day (so even the first minutes use the right calibration) and
   re-checked after each long gap; the samples it decoded go to a spool file in the results'
   folder (``ingest.spool``), so the file is parsed once;
2. the second pass streams the samples again, from the spool, through the same monitor one
   minute at a time into the result files (``ResultFiles``: angles.csv at 1 Hz, episodes.csv,
   alerts.csv, per local day and in ``daily.csv``), appended as the steps come.

In-memory callers (``run_replay``) go through the same two passes over their blocks.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posturewatch.alerts.monitor import FinishedDay, MonitorStep
from posturewatch.alerts.records import Alert
from posturewatch.analytics.pipeline import PipelineOutput
from posturewatch.analytics.records import EpisodeEvent
from posturewatch.ingest.align import ClockModel, apply_to_block
from posturewatch.ingest.archive_reader import ArchiveStream, is_archive
from posturewatch.ingest.autocal import autocalibrate
from posturewatch.ingest.frames import frame_index, reduce_to_frames
from posturewatch.ingest.mounting import Calibration
from posturewatch.ingest.prepass import Prepass, Segment
from posturewatch.ingest.recording import ReadReport, RecordingError
from posturewatch.ingest.recording_stream import RecordingStream, TextCellsFound, blocks_in_windows
from posturewatch.ingest.records import ANGLE_NAMES, SensorBlock, row_norms
from posturewatch.ingest.spool import BlockSpool
from posturewatch.runtime.config import Config
from posturewatch.runtime.outputs import ensure_out_dir
from posturewatch.runtime.replay_files import ReplayTally, ResultFiles
from posturewatch.runtime.replay_notes import clock_notes, segment_notes
from posturewatch.runtime.session import Chunk, FileOutputs, Plan, Session

log = logging.getLogger(__name__)

STEP_S = 60.0  # the analysis steps a recording is cut into (whole minutes of its timeline)
# steps handed on together: each is still analysed on its own (the same results), but the
# samples of ten minutes are taken in at once, and every call costs more than its samples
STEPS_PER_CHUNK = 10
Stream = RecordingStream | ArchiveStream  # a file read pass by pass


@dataclass
class ReplayResult:
    t: np.ndarray
    posture: np.ndarray
    angles: dict[str, np.ndarray]
    episodes: list[EpisodeEvent]
    alerts: list[Alert]
    read: ReadReport
    calibrations: dict[str, Calibration]
    clocks: dict[str, ClockModel]
    counters: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    days: list[FinishedDay] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)


def learn_calibrations(blocks: Mapping[str, SensorBlock], config: Config) -> dict[str, Calibration]:
    """Mountings from the recording itself: walking, standing and sitting say which way is which."""
    declared = {loc: config.pipeline.declared(loc) for loc in blocks}
    if not blocks:
        return declared
    k0 = min(int(frame_index(b.t[:1])[0]) for b in blocks.values())
    k1 = max(int(frame_index(b.t[-1:])[0]) for b in blocks.values()) + 1
    frames = {}
    for loc, b in blocks.items():
        unit = b.acc / row_norms(b.acc, keepdims=True)
        frames[loc] = reduce_to_frames(b.t, unit, b.acc, k0, k1)
    return autocalibrate(frames, declared, config.pipeline.autocal)


MARGIN_S = 2.0  # other sensors' samples may still come this far behind a batch's newest


class _Chunker:
    """File batches → session chunks: split at segment starts, each segment's clock models
    applied, cut at whole minutes of the reference timeline (the same edges whatever the batch
    sizes, so a segment replays alike alone and within a longer file)."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self.bounds = np.array([s.start for s in segments[1:]])
        self.si = -1
        self.buf: dict[str, list[SensorBlock]] = {}
        self.edge = 0.0
        self.hi = -np.inf
        self.news: dict[str, Calibration] | None = None
        self.steps: list[tuple[list[SensorBlock], float]] = []

    def add(self, batch: Mapping[str, SensorBlock]) -> Iterator[Chunk]:
        pieces: dict[int, dict[str, SensorBlock]] = {}
        for loc, b in batch.items():
            which = np.searchsorted(self.bounds, b.t, side="right")
            cuts = np.flatnonzero(np.diff(which)) + 1
            for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(b)], strict=True):
                pieces.setdefault(int(which[lo]), {})[loc] = b.slice(lo, hi)
        for si in sorted(pieces):
            if si != self.si:
                yield from self.finish()
                self._start(si)
            clocks = self.segments[si].clocks
            for loc, b in pieces[si].items():
                b = apply_to_block(b, clocks[loc]) if loc in clocks else b
                self.buf.setdefault(loc, []).append(b)
                self.hi = max(self.hi, float(b.t[-1]))
            if self.edge == 0.0:
                first = min(float(p[0].t[0]) for p in self.buf.values())
                self.edge = np.floor(first / STEP_S) * STEP_S + STEP_S
            while self.edge <= self.hi - MARGIN_S:
                self._cut(self.edge, self.edge)
                self.edge += STEP_S
                if len(self.steps) >= STEPS_PER_CHUNK:
                    yield self._chunk()

    def _start(self, si: int) -> None:
        self.si, self.buf, self.edge, self.hi = si, {}, 0.0, -np.inf
        self.news = self.segments[si].calibrations if si else None

    def _cut(self, edge: float, until: float) -> None:
        """One step: every location's samples before ``edge``."""
        out = []
        for loc, parts in self.buf.items():
            if not parts:
                continue
            b = parts[0] if len(parts) == 1 else SensorBlock.concat(parts)
            j = int(np.searchsorted(b.t, edge))
            if j:
                out.append(b.slice(0, j))
            self.buf[loc] = [b.slice(j, len(b))] if j < len(b) else []
        self.steps.append((out, until))

    def _chunk(self) -> Chunk:
        steps, self.steps = self.steps, []
        chunk = Chunk([b for blocks, _ in steps for b in blocks], until=steps[-1][1],
                      calibrations=self.news, steps=steps)
        self.news = None
        return chunk

    def finish(self) -> Iterator[Chunk]:
        """The rest of the current segment (its data is complete)."""
        if self.si < 0 or not np.isfinite(self.hi):
            return
        while True:
            self._cut(self.edge, min(self.edge, self.hi))
            if self.edge >= self.hi:
                break
            self.edge += STEP_S
            if len(self.steps) >= STEPS_PER_CHUNK:
                yield self._chunk()
        yield self._chunk()
        self.hi = -np.inf


class FileSource:
    """A recording as a session source: a file streamed batch by batch (``RecordingStream`` for a
    CSV, ``ArchiveStream`` for Parquet) or blocks already in memory; two passes, see the module
    docstring."""

    def __init__(self, data: Mapping[str, SensorBlock] | Stream, align: bool = True,
                 progress: Callable[[float, str], None] | None = None,
                 spool_dir: Path | None = None) -> None:
        self.spool: BlockSpool | None = None
        self.spool_dir = spool_dir
        if isinstance(data, RecordingStream | ArchiveStream):
            self._pass = data.batches
        else:
            blocks = {loc: b for loc, b in data.items() if len(b)}
            if not blocks:
                raise RecordingError("no usable samples: every sensor column was empty or bad")
            self._pass = lambda progress=None: blocks_in_windows(blocks)
        self.align = align
        self.progress = progress or (lambda f, d="": None)
        self.segments: list[Segment] = []
        self.clocks: dict[str, ClockModel] = {}
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sensors(self) -> dict[str, dict[str, object]]:
        return {}

    def prepare(self, config: Config, calibrations: Mapping[str, Calibration]) -> Plan:
        """First pass: segments, clock models per segment, mountings from the whole recording."""
        while True:
            pre = Prepass(config.pipeline.episodes.max_gap_s, self.align,
                          declared=config.pipeline.declared, given=calibrations or None,
                          autocal=config.pipeline.autocal)
            self._close_spool()
            # the decoded samples wait on disk for the second pass (a file is parsed once)
            self.spool = self._open_spool()
            try:
                for batch in self._pass(lambda f: self.progress(0.4 * f, "first pass")):
                    pre.add(batch)
                    if self.spool is not None:
                        self._spool(batch)
                break
            except TextCellsFound:
                continue  # read again as text, cell by cell
        if not pre.segments:
            raise RecordingError("no usable samples: every sensor column was empty or bad")
        cals, notes = pre.finish()
        self.segments = pre.segments
        self.now = self.segments[0].start
        main = max(self.segments, key=lambda s: s.samples)
        self.clocks = dict(main.clocks)
        self.progress(0.4, "mountings learnt")
        notes = segment_notes(self.segments) + clock_notes(self.clocks, len(self.segments)) + notes
        # the source applies each segment's clocks itself: the monitor gets none
        return Plan(calibrations=cals, clocks={}, notes=notes)

    async def chunks(self, stop: asyncio.Event) -> AsyncIterator[Chunk]:
        """Second pass: the samples again (from the spool when there is one), through the
        chunker, as they are read."""
        chunker = _Chunker(self.segments)
        total = max(sum(s.samples for s in self.segments), 1)
        done = 0
        try:
            for batch in (self.spool.batches() if self.spool is not None else self._pass(None)):
                done += sum(len(b) for b in batch.values())
                for chunk in chunker.add(batch):
                    self.now = chunk.until
                    yield chunk
                    if stop.is_set():
                        return
                self.progress(0.4 + 0.6 * min(1.0, done / total), "")
            for chunk in chunker.finish():
                self.now = chunk.until
                yield chunk
        finally:
            self._close_spool()

    def _open_spool(self) -> BlockSpool | None:
        if self.spool_dir is None:
            return None
        try:
            return BlockSpool(self.spool_dir)
        except OSError as exc:
            log.warning("cannot make a spool in %s (%s); the file is read a second time instead",
                        self.spool_dir, exc)
            return None

    def _spool(self, batch: Mapping[str, SensorBlock]) -> None:
        try:
            self.spool.add(batch)
        except OSError as exc:  # a full disk costs speed, not the replay
            log.warning("no room for the spool in %s (%s); the file is read a second time instead",
                        self.spool_dir, exc)
            self._close_spool()

    def _close_spool(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None


class ResultCollector(FileOutputs):
    """The file output set: keeps the final frames, episodes and alerts of a replay."""

    def __init__(self) -> None:
        self.steps: list[MonitorStep] = []

    def write(self, step: MonitorStep, now: float) -> None:
        if step:
            self.steps.append(step)

    def result(self, session: Session, read: ReadReport | None) -> ReplayResult:
        frames = [s.frames for s in self.steps] or [PipelineOutput.empty()]
        pipeline = session.monitor.pipeline
        result = ReplayResult(
            t=np.concatenate([f.t for f in frames]),
            posture=np.concatenate([f.posture for f in frames]).astype(np.int8),
            angles={a: np.concatenate([f.angles[a] for f in frames]) for a in ANGLE_NAMES},
            episodes=[e for f in frames for e in f.events],
            alerts=[a for s in self.steps for a in s.alerts],
            read=read or ReadReport(),
            calibrations=dict(pipeline.calibrations),
            clocks=dict(session.source.clocks),
            counters=Counter(pipeline.counters),
            days=[d for s in self.steps for d in s.days],
            segments=list(session.source.segments),
        )
        result.notes = [n for c in result.calibrations.values() for n in c.notes] + session.plan.notes
        return result


def run_replay(
    blocks: Mapping[str, SensorBlock],
    config: Config,
    calibrations: Mapping[str, Calibration] | None = None,
    align: bool = True,
    progress: Callable[[float, str], None] | None = None,
    read: ReadReport | None = None,
) -> ReplayResult:
    """Analyse in-memory recorded blocks (tests, small files); the same two passes as a file."""
    progress = progress or (lambda f, d="": None)
    source = FileSource(blocks, align, progress)
    outputs = ResultCollector()
    # offline, frames wait until non-wear and nights are sure, so both are backdated onto them
    config = dataclasses.replace(config, pipeline=config.pipeline.offline())
    session = Session(config, source, outputs, calibrations=calibrations)
    asyncio.run(session.run())
    progress(1.0, "done")
    return outputs.result(session, read)


def write_results(result: ReplayResult, out_dir: str | Path, tz: str = "UTC") -> dict[str, Path]:
    """Write an in-memory result as ``replay --out`` does; returns the whole-recording files."""
    files = ResultFiles(out_dir, tz)
    files.open()
    frames = PipelineOutput(result.t, result.angles, result.posture, result.episodes)
    files.write(MonitorStep(frames, alerts=list(result.alerts), days=list(result.days),
                            complete_before=float(result.t[-1]) + 0.1 if len(result.t) else None))
    files.close()
    return {name: Path(out_dir) / f"{name}.csv" for name in ("angles", "episodes", "alerts", "daily")}


@dataclass
class ReplayRun:
    """What a streamed replay tells its summary (the results themselves are in the files)."""

    tally: ReplayTally
    read: ReadReport
    segments: list[Segment]
    calibrations: dict[str, Calibration]
    clocks: dict[str, ClockModel]
    counters: Counter[str]
    notes: list[str]


def replay_to_folder(
    data: Mapping[str, SensorBlock] | Stream,
    out_dir: str | Path,
    config: Config,
    calibrations: Mapping[str, Calibration] | None = None,
    align: bool = True,
    progress: Callable[[float, str], None] | None = None,
    read: ReadReport | None = None,
) -> ReplayRun:
    """The session over a file (or blocks) into the result files, in bounded memory."""
    # offline, frames wait until non-wear and nights are sure, so both are backdated onto them
    config = dataclasses.replace(config, pipeline=config.pipeline.offline())
    streamed = isinstance(data, RecordingStream | ArchiveStream)
    source = FileSource(data, align, progress, spool_dir=Path(out_dir) if streamed else None)
    outputs = ResultFiles(out_dir, config.alerts.timezone)
    session = Session(config, source, outputs, calibrations=calibrations)
    asyncio.run(session.run())
    if isinstance(data, RecordingStream | ArchiveStream):
        read = data.report
    pipeline = session.monitor.pipeline
    cals = dict(pipeline.calibrations)
    cal_notes = [n for c in cals.values() for n in c.notes]
    log_notes = [n for _, n in pipeline.calibration_log if n not in cal_notes]  # put back on, learnt again
    notes = (read.notes if read else []) + cal_notes + log_notes + session.plan.notes
    return ReplayRun(outputs.tally, read or ReadReport(), source.segments, cals, dict(source.clocks),
                     Counter(pipeline.counters), notes)


def replay_file(
    path: str | Path,
    out_dir: str | Path,
    config: Config,
    acc_unit: str = "auto",
    gyro_unit: str = "rad/s",
    progress: Callable[[float, str], None] | None = None,
    align: bool = True,
    calibrations: Mapping[str, Calibration] | None = None,
    time_unit: str = "auto",
    tz: str | None = None,
) -> ReplayRun:
    """Stream a recorded CSV (or a Parquet archive file or folder: its schema fixes units and time,
    so the unit options do not apply) through the session into ``out_dir``: what `posturewatch
    replay` does. A result folder that cannot be written is refused (``OutputsError``) first."""
    ensure_out_dir(Path(out_dir))
    stream: Stream = (ArchiveStream(path) if is_archive(path)
                      else RecordingStream(path, acc_unit, gyro_unit, time_unit, tz))
    return replay_to_folder(stream, out_dir, config, calibrations, align, progress)
