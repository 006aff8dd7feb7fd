"""The demo's terminal view: a panel redrawn in place on a TTY, one line per sim minute otherwise.

``DemoSnapshot`` is what the demo loop knows after each block (sim clock, posture, angles, open
episodes, recent alerts, MQTT link state); ``LiveView.show`` draws it. Plain ANSI only: cursor up
and clear-to-end, so the lines printed before the panel (the broker address) stay visible.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TextIO

ANGLE_LABELS: tuple[tuple[str, str], ...] = (
    ("pelvic_tilt", "pelvic tilt"),
    ("trunk_inclination", "trunk"),
    ("lumbar_flexion", "lumbar flexion"),
    ("hip_flexion", "hip flexion"),
    ("thigh_inclination", "thigh"),
)

KIND_LABELS = {
    "prolonged_sitting": "long sitting",
    "posterior_tilt": "pelvis tilted back",
    "forward_head": "forward head",
    "lumbar_bend": "back bend",
}

BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"
REDRAW_S = 0.2


@dataclass
class DemoSnapshot:
    sim_ts: float
    sim_start: float
    sim_end: float
    speed_target: float
    speed_actual: float
    posture: str = "unknown"
    posture_since: float = math.nan
    angles: dict[str, float] = field(default_factory=dict)
    open_episodes: list[tuple[str, float]] = field(default_factory=list)
    last_alerts: list[tuple[float, str, str]] = field(default_factory=list)
    episodes_by_kind: dict[str, int] = field(default_factory=dict)
    alerts_total: int = 0
    sitting_s: float = 0.0
    broker: str = ""
    connected: bool = False
    protocol: str = ""
    published: int = 0
    pending: int = 0


def _clock(ts: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%H:%M:%S") if math.isfinite(ts) else "--:--:--"


def _minutes(seconds: float) -> str:
    seconds = max(0.0, seconds)
    h, m = divmod(int(seconds // 60), 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


def _angle(value: float | None) -> str:
    return "  n/a" if value is None or not math.isfinite(value) else f"{value:+5.0f}°"


def render_panel(s: DemoSnapshot, zone: tzinfo, color: bool = True) -> list[str]:
    """The multi-line panel (without cursor movement)."""
    b, d, r = (BOLD, DIM, RESET) if color else ("", "", "")
    span = max(s.sim_end - s.sim_start, 1e-9)
    done = min(1.0, max(0.0, (s.sim_ts - s.sim_start) / span))
    bar = "█" * int(done * 30) + "·" * (30 - int(done * 30))
    link = "connected" if s.connected else "connecting…"
    lines = [
        f"{b}posturewatch demo{r}  sim {_clock(s.sim_ts, zone)}  [{bar}] {done * 100:3.0f}%  "
        f"speed ×{s.speed_actual:.0f} (target ×{s.speed_target:.0f})",
        f"{d}MQTT {s.broker} {link} {s.protocol}  published {s.published}  queued {s.pending}{r}",
        "",
        f"posture  {b}{s.posture:<9}{r} since {_clock(s.posture_since, zone)}"
        f"   sitting so far {_minutes(s.sitting_s)}",
        "angles   " + "  ".join(f"{label} {_angle(s.angles.get(name))}" for name, label in ANGLE_LABELS),
        "",
        "open episodes: " + (", ".join(
            f"{KIND_LABELS.get(kind, kind)} ({_minutes(s.sim_ts - start)})"
            for kind, start in s.open_episodes) or "none"),
        "episodes today: " + (", ".join(
            f"{KIND_LABELS.get(k, k)} {n}" for k, n in sorted(s.episodes_by_kind.items())) or "none")
        + f"   alerts {s.alerts_total}",
        "last alerts:",
    ]
    recent = s.last_alerts[-5:]
    lines += [f"  {_clock(ts, zone)}  {title}" for ts, _kind, title in reversed(recent)]
    lines += ["  –"] * (5 - len(recent))
    lines.append(f"{d}Ctrl-C stops: the outbox is flushed and the day's report written.{r}")
    return lines


def render_line(s: DemoSnapshot, zone: tzinfo) -> str:
    """One log line (non-TTY output)."""
    opened = ",".join(kind for kind, _ in s.open_episodes) or "-"
    angles = " ".join(f"{name}={s.angles.get(name, math.nan):.1f}" for name, _ in ANGLE_LABELS[:3])
    return (f"{_clock(s.sim_ts, zone)} {s.posture:<8} {angles} open={opened} "
            f"alerts={s.alerts_total} mqtt={'up' if s.connected else 'down'} queued={s.pending}")


class LiveView:
    """Draws snapshots: in place on a terminal, else a line each time a sim minute passes."""

    def __init__(self, zone: tzinfo, stream: TextIO | None = None, tty: bool | None = None,
                 quiet: bool = False) -> None:
        self.zone = zone
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.quiet = quiet
        self._drawn = 0
        self._minute: int | None = None
        self._last_draw = -math.inf

    def show(self, snapshot: DemoSnapshot, force: bool = False) -> None:
        if self.quiet:
            return
        if self.tty:
            now = time.monotonic()
            if not force and now - self._last_draw < REDRAW_S:
                return
            self._last_draw = now
            # a wrapped line would break the cursor-up count: cut lines to the terminal width
            width = shutil.get_terminal_size((100, 24)).columns - 1
            lines = [line[:width] for line in render_panel(snapshot, self.zone, color=False)]
            lines[0] = BOLD + lines[0] + RESET
            lines[1] = DIM + lines[1] + RESET
            up = f"\033[{self._drawn}F" if self._drawn else ""
            self.stream.write(up + "\033[J" + "\n".join(lines) + "\n")
            self._drawn = len(lines)
        else:
            minute = int(snapshot.sim_ts // 60)
            if self._minute is not None and minute == self._minute:
                return
            self._minute = minute
            self.stream.write(render_line(snapshot, self.zone) + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line that stays (printed below the panel, which is then drawn afresh)."""
        self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn = 0
