"""Replay: the session over a recorded file, with results written as CSV.

The recorded file is one more source for the same session the daemon and the demo run
(``FileSource``). Before streaming it runs the offline extras: the sensors' clocks are aligned
from content, and the mountings are learnt from the whole recording (walking, standing,
sitting), so even the first minutes are analysed with the right calibration. Then the file
streams through the same monitor, one minute at a time, into the file outputs
(``ResultCollector``: angles.csv at 1 Hz, episodes.csv, alerts.csv).
"""
from __future__ import annotations

import asyncio
import csv
import dataclasses
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posturewatch.alerts.monitor import FinishedDay, MonitorStep
from posturewatch.alerts.records import Alert
from posturewatch.analytics.pipeline import PipelineOutput
from posturewatch.analytics.records import EpisodeEvent, Posture
from posturewatch.ingest.align import ClockModel, apply_to_block, estimate_clock_models
from posturewatch.ingest.autocal import autocalibrate
from posturewatch.ingest.frames import frame_index, reduce_to_frames
from posturewatch.ingest.mounting import Calibration
from posturewatch.ingest.recording import ReadReport, RecordingError, read_recording
from posturewatch.ingest.records import ANGLE_NAMES, SensorBlock
from posturewatch.runtime.config import Config
from posturewatch.runtime.outputs import ensure_out_dir
from posturewatch.runtime.session import Chunk, Plan, Session
from posturewatch.store.rollup import per_second

log = logging.getLogger(__name__)

CHUNK_S = 60.0


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


def learn_calibrations(blocks: Mapping[str, SensorBlock], config: Config) -> dict[str, Calibration]:
    """Mountings from the recording itself: walking, standing and sitting say which way is which."""
    declared = {loc: config.pipeline.declared(loc) for loc in blocks}
    if not blocks:
        return declared
    k0 = min(int(frame_index(b.t[:1])[0]) for b in blocks.values())
    k1 = max(int(frame_index(b.t[-1:])[0]) for b in blocks.values()) + 1
    frames = {}
    for loc, b in blocks.items():
        unit = b.acc / np.linalg.norm(b.acc, axis=1, keepdims=True)
        frames[loc] = reduce_to_frames(b.t, unit, b.acc, k0, k1)
    return autocalibrate(frames, declared, config.pipeline.autocal)


class FileSource:
    """Recorded blocks (per location, in memory) as a session source; see the module docstring."""

    def __init__(self, blocks: Mapping[str, SensorBlock], align: bool = True,
                 progress: Callable[[float, str], None] | None = None) -> None:
        if not blocks:
            raise RecordingError("no usable samples: every sensor column was empty or bad")
        self.blocks = dict(blocks)
        self.align = align
        self.progress = progress or (lambda f, d="": None)
        self.t_first = min(float(b.t[0]) for b in self.blocks.values())
        self.t_last = max(float(b.t[-1]) for b in self.blocks.values())
        self.now = self.t_first

    def clock(self) -> float:
        return self.now

    def sensors(self) -> dict[str, dict[str, object]]:
        return {}

    def prepare(self, config: Config, calibrations: Mapping[str, Calibration]) -> Plan:
        """Clock alignment and mounting learning over the whole recording."""
        clocks = estimate_clock_models(self.blocks) if self.align and len(self.blocks) > 1 else {}
        self.blocks = {loc: apply_to_block(b, clocks[loc]) if loc in clocks else b
                       for loc, b in self.blocks.items()}
        self.progress(0.05, "clocks aligned")
        cals = dict(calibrations) if calibrations else learn_calibrations(self.blocks, config)
        self.progress(0.1, "mountings learnt")
        return Plan(calibrations=cals, clocks=clocks, notes=clock_notes(clocks))

    async def chunks(self, stop: asyncio.Event) -> AsyncIterator[Chunk]:
        cursors = dict.fromkeys(self.blocks, 0)
        span = max(self.t_last - self.t_first, 1e-9)
        edge = np.floor(self.t_first / CHUNK_S) * CHUNK_S + CHUNK_S
        while not stop.is_set():
            chunk = []
            for loc, b in self.blocks.items():
                j = int(np.searchsorted(b.t, edge))
                if j > cursors[loc]:
                    chunk.append(b.slice(cursors[loc], j))
                    cursors[loc] = j
            self.now = min(edge, self.t_last)
            yield Chunk(chunk, until=self.now)
            self.progress(0.1 + 0.9 * min(1.0, (edge - self.t_first) / span), "")
            if edge >= self.t_last:
                return
            edge += CHUNK_S


def clock_notes(clocks: Mapping[str, ClockModel]) -> list[str]:
    """What the summary says about each sensor's clock."""
    notes = []
    reference = next((k for k, m in clocks.items() if m.status == "reference"), "the reference")
    for loc, model in clocks.items():
        if model.estimated:
            notes.append(
                f"{loc}: clock aligned to the {reference}'s: "
                f"offset {model.offset * 1000:+.0f} ms, drift {model.drift * 1e6:+.1f} ppm "
                f"({model.n_windows} windows)"
            )
        elif model.status != "reference":
            why = model.status.replace("_", " ")
            notes.append(f"{loc}: clock not aligned ({why}); its timestamps are used as recorded")
    return notes


class ResultCollector:
    """The file output set: keeps the final frames, episodes and alerts of a replay."""

    def __init__(self) -> None:
        self.steps: list[MonitorStep] = []

    def open(self, session: Session) -> None:
        pass

    def write(self, step: MonitorStep, now: float) -> None:
        if step:
            self.steps.append(step)

    def publish_status(self, session: Session, force: bool = False) -> None:
        pass

    def state(self) -> dict[str, object]:
        return {}

    def close(self, session: Session) -> None:
        pass

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
            clocks=dict(session.plan.clocks),
            counters=Counter(pipeline.counters),
            days=[d for s in self.steps for d in s.days],
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
    """Analyse in-memory recorded blocks; progress runs 0..1 over alignment, calibration, streaming."""
    progress = progress or (lambda f, d="": None)
    source = FileSource(blocks, align, progress)
    outputs = ResultCollector()
    # offline, frames wait until non-wear and nights are sure, so both are backdated onto them
    config = dataclasses.replace(config, pipeline=config.pipeline.offline())
    session = Session(config, source, outputs, calibrations=calibrations)
    asyncio.run(session.run())
    progress(1.0, "done")
    return outputs.result(session, read)


def episode_rows(events: list[EpisodeEvent]) -> list[dict]:
    """One row per ended episode (open ones at the end of the data were closed by the pipeline)."""
    rows = []
    for e in events:
        if e.type != "end":
            continue
        ep = e.episode
        rows.append({
            "id": ep.id, "kind": ep.kind, "start": f"{ep.start:.1f}", "end": f"{ep.end:.1f}",
            "duration_s": f"{ep.duration_s:.1f}", "peak": f"{ep.peak:.2f}", "mean": f"{ep.mean:.2f}",
            "confirmed": f"{ep.confirmed:.1f}",
        })
    return rows


def write_results(result: ReplayResult, out_dir: str | Path) -> dict[str, Path]:
    """Write angles.csv (1 Hz), episodes.csv and alerts.csv; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sec = per_second(result.t, result.angles, result.posture)
    t, posture, angles = sec.t, sec.posture, sec.angles
    paths = {name: out / f"{name}.csv" for name in ("angles", "episodes", "alerts")}
    with paths["angles"].open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "posture", *ANGLE_NAMES])
        labels = np.array([p.label for p in Posture])[posture.astype(int)]
        cols = [np.char.mod("%.2f", angles[a]) for a in ANGLE_NAMES]
        cols = [np.where(c == "nan", "", c) for c in cols]
        w.writerows(zip(t.astype(str), labels, *cols, strict=True))
    fields = ["id", "kind", "start", "end", "duration_s", "peak", "mean", "confirmed"]
    with paths["episodes"].open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(episode_rows(result.episodes))
    with paths["alerts"].open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "kind", "ts", "severity", "title", "message", "episode_id", "episode_start"])
        for a in result.alerts:
            w.writerow([a.id, a.kind, f"{a.ts:.1f}", a.severity, a.title, a.message, a.episode_id,
                        f"{a.episode_start:.1f}"])
    return paths


def replay_file(
    path: str | Path,
    out_dir: str | Path,
    config: Config,
    acc_unit: str = "auto",
    gyro_unit: str = "rad/s",
    progress: Callable[[float, str], None] | None = None,
    align: bool = True,
    calibrations: Mapping[str, Calibration] | None = None,
) -> ReplayResult:
    """Read, analyse and write: what `posturewatch replay` does. A result folder that cannot be
    written is refused (``OutputsError``) before the file is read."""
    ensure_out_dir(Path(out_dir))
    progress = progress or (lambda f, d="": None)
    rec = read_recording(path, acc_unit, gyro_unit, progress=lambda f: progress(0.3 * f, "reading"))
    result = run_replay(
        rec.blocks, config, calibrations, align,
        progress=lambda f, d="": progress(0.3 + 0.7 * f, d), read=rec.report,
    )
    result.notes = rec.report.notes + result.notes
    write_results(result, out_dir)
    return result
