"""The one assembly: a source → the monitor → outputs, opened and closed in one order.

``run``, ``demo`` and ``replay`` are thin commands that pick a ``Source`` (the BLE links, real or
emulated; the paced simulated wearer; a recorded file with its offline pre-passes) and a set of
``Outputs`` (the live set: hub, outbox, embedded store, MQTT and InfluxDB pumps, commands; or the
replay's result files), then ``await Session(...).run()``.

Order, written once: outputs open (a folder that cannot be written is refused before any work),
the source prepares (offline pre-passes, calibrations), then every chunk goes source → monitor →
outputs; at the end the monitor closes (open episodes end, the last day is summarised), its
last step goes out, the status is published a last time and the outputs close. An optional
``Archive`` (the daemon's raw Parquet archive) opens with the outputs, is handed every chunk's
blocks before the monitor sees them, and closes first when the stream ends.

One owner for the analysis state: the monitor, the alert policy, the calibrations and every store
write belong to the event loop that runs the session. Commands that arrive on the MQTT network
thread are handed to that loop with ``call_soon_threadsafe`` (``Session.dispatch``) and answered
from there; nothing here takes a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from posturewatch.alerts.monitor import Monitor, MonitorStep
from posturewatch.alerts.mqtt.payloads import reminders_status, rfc3339
from posturewatch.alerts.policy import AlertPolicy
from posturewatch.analytics.pipeline import Pipeline
from posturewatch.ingest.align import ClockModel
from posturewatch.ingest.mounting import Calibration, from_pose
from posturewatch.ingest.pose import summarize
from posturewatch.ingest.records import SensorBlock
from posturewatch.runtime.calibration_file import write_calibration
from posturewatch.runtime.config import Config

log = logging.getLogger(__name__)

STATUS_CHECK_S = 1.0
CALIBRATION_WINDOW_S = 4.0


@dataclass
class Chunk:
    """Blocks from a source; frames before ``until`` (source time) may become final.
    ``calibrations``: mountings that apply from these blocks on (a replay re-learnt them after
    a long gap). ``steps``: a recording's chunk as consecutive steps ``(blocks, until)``, each
    analysed as a chunk of its own (``blocks`` then holds all of them)."""

    blocks: list[SensorBlock]
    until: float | None = None
    calibrations: Mapping[str, Calibration] | None = None
    steps: list[tuple[list[SensorBlock], float]] | None = None


@dataclass
class Plan:
    """What a source settled before streaming: clock models, mountings, notes for the summary."""

    calibrations: dict[str, Calibration] = field(default_factory=dict)
    clocks: dict[str, ClockModel] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Source(Protocol):
    """Where samples come from."""

    def clock(self) -> float:
        """The source's present: host time live, simulated time in the demo, data time in a replay."""

    def prepare(self, config: Config, calibrations: Mapping[str, Calibration]) -> Plan:
        """Offline pre-passes (a recording) or nothing (live); called once before ``chunks``."""

    def chunks(self, stop: asyncio.Event) -> AsyncIterator[Chunk]:
        """Blocks in time order until the source ends or ``stop`` is set."""

    def sensors(self) -> dict[str, dict[str, object]]:
        """Per-sensor status (connection, battery, rate, loss) for the status topic."""


class Outputs(Protocol):
    """Where the monitor's steps go."""

    def open(self, session: Session) -> None: ...

    def write(self, step: MonitorStep, now: float) -> None: ...

    def publish_status(self, session: Session, force: bool = False) -> None: ...

    def state(self) -> dict[str, object]:
        """Delivery state for the status line and payload (e.g. mqtt, outbox depth)."""

    def restore_policy(self) -> bool:
        """Load the alert policy's saved state into the session's policy; True if there was one."""

    def save_policy(self, now: float, final: bool = False) -> None:
        """Keep the alert policy's state where a restarted session finds it (or nowhere)."""

    def close(self, session: Session) -> None: ...


class FileOutputs:
    """The stateless half of an ``Outputs`` that only writes results (a replay's): no status to
    publish, no delivery state, and a fresh alert policy each run, so the same file gives the
    same alerts. Subclasses supply ``write`` and, where needed, ``open``/``close``."""

    def open(self, session: Session) -> None:
        pass

    def publish_status(self, session: Session, force: bool = False) -> None:
        pass

    def state(self) -> dict[str, object]:
        return {}

    def restore_policy(self) -> bool:
        return False

    def save_policy(self, now: float, final: bool = False) -> None:
        pass

    def close(self, session: Session) -> None:
        pass


class Archive(Protocol):
    """Where the received blocks are kept as they came (``ingest.archive_writer.ArchiveWriter``)."""

    def open(self) -> None: ...

    def add(self, blocks: list[SensorBlock]) -> None: ...

    def close(self) -> None: ...


class View(Protocol):
    """Something that shows the session as it runs (a terminal line, the demo's view)."""

    def update(self, session: Session, step: MonitorStep) -> None: ...

    def tick(self, session: Session) -> None:
        """Called about once a second even when no data comes (sensors still connecting)."""


class Session:
    """One wearer's session; ``await run()`` until the source ends or ``stop`` is set."""

    def __init__(
        self,
        config: Config,
        source: Source,
        outputs: Outputs,
        *,
        calibrations: Mapping[str, Calibration] | None = None,
        views: list[View] | None = None,
        calibration_file: Path | None = None,
        archive: Archive | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.outputs = outputs
        self.archive = archive
        self.views = list(views or [])
        self.calibration_file = calibration_file
        self._given = dict(calibrations or {})
        # the policy exists from the start: commands may arrive before the first block
        self.policy = AlertPolicy(config.alerts)
        self.monitor: Monitor | None = None
        self.plan = Plan()
        self.frames_out = 0
        self.alerts_out = 0
        self.policy_restored = False
        self.stopped_early = False
        self.closing = False  # True while the monitor's last step goes out
        self.budget = None  # the reminder budget after the last step (alerts.records.BudgetState)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._recent: dict[str, deque[SensorBlock]] = {}

    # ------------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event | None = None, duration_s: float | None = None) -> Session:
        """Open, stream, close; returns itself (counters, the monitor, the plan) for summaries."""
        self._loop = asyncio.get_running_loop()
        stop = stop or asyncio.Event()
        timer = self._loop.call_later(duration_s, stop.set) if duration_s is not None else None
        self.outputs.open(self)
        # the alert state of the last run (episodes open, cooldowns, snooze, the day's budget)
        self.policy_restored = self.outputs.restore_policy()
        watcher = None
        archiving = False
        try:
            if self.archive is not None:
                self.archive.open()
                archiving = True
            self.plan = self.source.prepare(self.config, self._given)
            self.monitor = Monitor(self.config.pipeline, self.config.alerts,
                                   self.plan.calibrations, self.plan.clocks, policy=self.policy)
            watcher = asyncio.create_task(self._watch_status(), name="status")
            # every source ends by itself once ``stop`` is set; what it still yields after that
            # (the BLE links' last flush) is received data and goes through like the rest
            async with contextlib.aclosing(self.source.chunks(stop)) as chunks:
                async for chunk in chunks:
                    self.process(chunk)
            self.stopped_early = stop.is_set()
        finally:
            if archiving:  # first: the raw data is complete even if closing the monitor fails
                try:
                    self.archive.close()
                except Exception:  # a broken archive must not keep the outputs from closing
                    log.exception("closing the archive failed")
            if timer is not None:
                timer.cancel()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if self.monitor is not None:
                # saved before close ends the open episodes: a restart picks them up again
                self.outputs.save_policy(self.source.clock(), final=True)
                self.closing = True
                self._deliver(self.monitor.close())
                self.outputs.publish_status(self, force=True)
            self.outputs.close(self)
        return self

    def dispatch(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the session's loop (from any thread): the one way in for commands."""
        loop = self._loop
        if loop is None or loop.is_closed():
            work()
        else:
            loop.call_soon_threadsafe(work)

    # ------------------------------------------------------------------ data path
    def process(self, chunk: Chunk) -> None:
        """One chunk (archived as received, if archiving) through the monitor to the outputs."""
        if self.archive is not None:
            self.archive.add(chunk.blocks)
        self._remember(chunk.blocks)
        if chunk.calibrations:
            self.monitor.pipeline.calibrations.update(chunk.calibrations)
        if chunk.steps:
            for step in self.monitor.push_steps(chunk.steps):
                self._deliver(step)
        else:
            self._deliver(self.monitor.push(chunk.blocks, until=chunk.until))

    def _deliver(self, step: MonitorStep) -> None:
        now = self.source.clock()
        self.outputs.write(step, now)
        if step.budget is not None:
            self.budget = step.budget
        self.frames_out += len(step.frames)
        self.alerts_out += len(step.alerts)
        for view in self.views:
            view.update(self, step)

    async def _watch_status(self) -> None:
        while True:
            self.outputs.publish_status(self)
            for view in self.views:
                view.tick(self)
            await asyncio.sleep(STATUS_CHECK_S)

    def status(self) -> dict[str, object]:
        """Sensors (with the pipeline's late-sample counts) and the outputs' delivery state."""
        late = self.monitor.pipeline.counters if self.monitor is not None else {}
        mounting = mounting_state(self.monitor.pipeline) if self.monitor is not None else {}
        sensors = {}
        for location, s in self.source.sensors().items():
            sensors[location] = {**s, "late_samples": int(late.get(f"{location}_late_samples", 0)),
                                 **mounting.get(location, {})}
        status: dict[str, object] = {"sensors": sensors, **self.outputs.state()}
        if self.budget is not None:
            status["reminders"] = reminders_status(self.budget)
        return status

    # ------------------------------------------------------------------ calibration command
    def _remember(self, blocks: list[SensorBlock]) -> None:
        """The last few seconds per location, for a calibration asked for over MQTT."""
        for block in blocks:
            if not len(block):
                continue
            recent = self._recent.setdefault(block.location, deque())
            recent.append(block)
            while recent and recent[0].t[-1] < block.t[-1] - 1.5 * CALIBRATION_WINDOW_S:
                recent.popleft()

    def calibrate_now(self, body: Mapping[str, object] | None = None) -> dict[str, object]:
        """Neutral-pose calibration from the last seconds of data (``cmd/calibrate``, on the
        loop). Applied at once and stored for the next start; raises when not still."""
        blocks = [b for recent in self._recent.values() for b in recent]
        poses = summarize(blocks, CALIBRATION_WINDOW_S) if blocks else {}
        problems = [f"{loc}: {e['error']}" for loc, e in poses.items() if "error" in e]
        if not poses or problems or self.monitor is None:
            raise ValueError("; ".join(problems) or "no sensor data yet")
        pipeline = self.monitor.pipeline
        for location, entry in poses.items():
            declared = self.config.pipeline.declared(location)
            pipeline.calibrations[location] = from_pose(declared, np.asarray(entry["acc_mean"]))
        if self.calibration_file is not None:
            write_calibration(self.calibration_file, self.config.user, self.config.mountings(),
                              {"neutral": poses})
        return {"locations": sorted(poses)}


def mounting_state(pipeline: Pipeline) -> dict[str, dict[str, object]]:
    """Per location: slips followed so far, whether its mounting is known now (a sensor put back
    on is not until it is seen walking) and the last change to it, with its time."""
    last: dict[str, tuple[float, str]] = {}
    for ts, note in pipeline.calibration_log:
        last[note.split(":", 1)[0]] = (ts, note)
    out = {}
    for location in pipeline.calibrations:
        ts, note = last.get(location, (None, None))
        out[location] = {
            "slips": int(pipeline.counters.get(f"{location}_slips", 0)),
            "mounting": "unknown" if location in pipeline.learner.unknown else "known",
            "mounting_changed": None if ts is None else rfc3339(ts),
            "mounting_note": note,
        }
    return out
