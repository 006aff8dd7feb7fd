"""Sitting or standing with a pelvis sensor alone, from the postural transitions between them.

Seated upright, the pelvis tilts back only 3–8°: its angle alone cannot tell a chair from
standing. Getting up or sitting down, though, leaves a clear signature: the pelvis pitches
forward 10–20° and back within 1–3 s while the hips rise or drop by 0.3–0.5 m. The drop or rise
is the double integral of the vertical acceleration (|specific force| − g, its local level
removed so a sensor bias does not integrate into a height), over a window around the forward
pitch. A bout after a stand-to-sit is sitting until the next sit-to-stand, walking or lying; a
bout after a sit-to-stand or a walk is standing; a moment of lost data changes neither. Where
no transition was seen (the start of a recording, after lying) the classifier's decision stands.

Works on whole blocks with numpy/scipy; the loop is over the few candidate pitches, never over
samples. The frames not yet final are look-ahead, so a transition at a block's edge is judged
whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from posturewatch.analytics.records import Posture
from posturewatch.ingest.frames import FRAME_HZ, FRAME_S

CONTEXT_S = 4.0
_UPRIGHT_STILL = (int(Posture.SITTING), int(Posture.STANDING))


@dataclass(frozen=True)
class SeatedSettings:
    """Rules of a pelvis transition: least forward pitch (deg), least hip rise/drop (m), and
    the half window around the pitch's peak the height change is integrated over (s)."""

    pitch_deg: float = 10.0
    height_m: float = 0.2
    half_window_s: float = 2.5
    level_s: float = 0.5  # still time at each end of the window that sets the force's level
    walk_overlap_s: float = 3.0  # a walk ending this soon after a transition ended in it
    lost_s: float = 60.0  # data lost for less than this keeps the known state
    still_force: float = 0.5  # m/s²: force spread of a still end (a gait moves it by ±3–4)
    memory_s: float = 1800.0  # how far back the thigh's word is kept (non-wear's backdating reach)
    # taking a sensor off takes seconds before it comes to rest: what it told then was not the body
    handling_s: float = 10.0


class SeatedFromTransitions:
    """Streaming relabelling of pelvis-only sitting/standing; ``push`` returns the corrected
    posture of the final frames and the transitions found (kind, peak time)."""

    def __init__(self, settings: SeatedSettings | None = None) -> None:
        self.s = settings or SeatedSettings()
        self.state: int | None = None  # SITTING / STANDING after the last transition, or unknown
        self._last_peak = -np.inf
        self._t = np.zeros(0)
        self._tilt = np.zeros(0)
        self._force = np.zeros(0)
        # while the thigh tells: (run start, state) of its runs and the transitions seen, for
        # ``memory_s``, so the state can be taken back to when a thigh sensor was put down
        self._told: list[tuple[float, int | None]] = []
        self._seen: list[tuple[float, int]] = []
        self._known = False  # whether the last frame was told by the thigh

    def seed(self, posture: int) -> None:
        """Start from a posture known otherwise (the thigh's, before it came off the body)."""
        self.state = _state_after(int(posture), self.state)

    def _rewind(self, t0: float, until: float) -> None:
        """The state as the thigh told it at ``t0`` (it has lain still, maybe off the body, since),
        then the transitions the pelvis showed after it until ``until``."""
        told = [state for t, state in self._told if t <= t0 - self.s.handling_s]
        if not told:
            return
        self.state = told[-1]
        for tp, kind in self._seen:
            if t0 < tp <= until:
                self.state, self._last_peak = kind, max(self._last_peak, tp)

    def push(self, t: np.ndarray, posture: np.ndarray, tilt: np.ndarray, force: np.ndarray,
             ahead_t: np.ndarray, ahead_tilt: np.ndarray, ahead_force: np.ndarray,
             known: np.ndarray | None = None, rest_since: float | None = None) -> np.ndarray:
        """Relabel the final frames' sitting/standing. Frames ``known`` (told by a worn thigh) keep
        their posture and only carry the state on, so it holds when the thigh comes off; if the
        thigh had lain still since ``rest_since`` by then, the state is the one from that time."""
        n = len(t)
        if n == 0:
            return posture
        own_t, own_tilt, own_force = (np.concatenate((a, b)) for a, b in
                                      ((self._t, t), (self._tilt, tilt), (self._force, force)))
        sig_t = np.concatenate((own_t, ahead_t))
        sig_tilt = np.concatenate((own_tilt, ahead_tilt[: len(ahead_t)]))
        sig_force = np.concatenate((own_force, ahead_force[: len(ahead_t)]))
        keep = int(CONTEXT_S * FRAME_HZ)
        self._t, self._tilt, self._force = own_t[-keep:], own_tilt[-keep:], own_force[-keep:]

        moves = [(k, tp) for k, tp in self._transitions(sig_t, sig_tilt, sig_force)
                 if self._last_peak < tp and t[0] - FRAME_S / 2 <= tp <= t[-1] + FRAME_S / 2]
        known = np.zeros(n, bool) if known is None else np.asarray(known, bool)
        horizon = float(t[-1]) - self.s.memory_s
        self._seen = [m for m in self._seen if m[0] >= horizon] + [(tp, k) for k, tp in moves]
        self._told = self._told[max(0, sum(1 for tt, _ in self._told if tt < horizon) - 1):]
        return self._relabel(t, np.asarray(posture).copy(), moves, known, rest_since)

    def _transitions(self, t: np.ndarray, tilt: np.ndarray, force: np.ndarray) -> list[tuple[int, float]]:
        """(posture after, peak time) of each forward pitch that raised or lowered the hips."""
        good = np.isfinite(tilt) & np.isfinite(force)
        if good.sum() < 2 * FRAME_HZ:
            return []
        x = np.where(good, tilt, np.interp(t, t[good], tilt[good]))
        f = np.where(good, force, np.interp(t, t[good], force[good]))
        half, level = int(self.s.half_window_s * FRAME_HZ), max(1, int(self.s.level_s * FRAME_HZ))
        # A pelvis sensor put back on inside out reads a forward pitch as a backward one, and no
        # walk can tell (only which end is up): pitches either way are looked at, the hips' rise
        # or drop (sign-free) decides.
        found_at = [find_peaks(sign * x, prominence=self.s.pitch_deg, distance=2 * FRAME_HZ,
                               wlen=2 * half + 1)[0] for sign in (1.0, -1.0)]
        peaks = np.sort(np.concatenate(found_at))
        if len(peaks) > 1:  # a pitch and the settling after it: the first one
            peaks = peaks[np.concatenate(([True], np.diff(peaks) >= 2 * FRAME_HZ))]
        found = []
        for p in peaks[(peaks >= half) & (peaks + half < len(x))]:
            rise = self._rise(f[p - half : p + half + 1], level)
            if rise is None:
                continue  # in the middle of a walk: a step's pitch, not a chair
            if abs(rise) >= self.s.height_m:
                found.append((int(Posture.STANDING) if rise > 0 else int(Posture.SITTING), float(t[p])))
        return found

    def _rise(self, w: np.ndarray, level: int) -> float | None:
        """Hip rise (m, + up) over the window of |specific force| ``w``: integrated between two
        still ends (no velocity at either), or back from the one still end (a walk right before
        sitting down, or right after getting up); None with no still end."""
        still = [float(np.std(end)) <= self.s.still_force for end in (w[:level], w[-level:])]
        if not any(still):
            return None
        if all(still):
            acc = w - float(np.mean(np.concatenate((w[:level], w[-level:]))))
            v = np.cumsum(acc) * FRAME_S
            v -= np.linspace(0.0, v[-1], len(v))
        elif still[0]:
            v = np.cumsum(w - float(np.mean(w[:level]))) * FRAME_S
        else:
            acc = w - float(np.mean(w[-level:]))
            v = -np.concatenate((np.cumsum(acc[::-1])[::-1][1:], [0.0])) * FRAME_S
        return float(np.sum(v) * FRAME_S)

    def _relabel(self, t: np.ndarray, posture: np.ndarray, moves: list[tuple[int, float]],
                 known: np.ndarray, rest_since: float | None) -> np.ndarray:
        """Sitting/standing runs follow the last transition; after a walk the wearer stands,
        after a lie (or data lost for ``lost_s``) it is unknown again; a known run sets the state.
        The loop is over runs, not frames."""
        cuts = np.array([int(np.searchsorted(t, tp, side="right")) for _, tp in moves], np.int64)
        kinds = [k for k, _ in moves]
        changes = np.flatnonzero((np.diff(posture) != 0) | (np.diff(known) != 0)) + 1
        boundaries = np.unique(np.concatenate((cuts, changes)))
        starts = np.concatenate(([0], boundaries[boundaries < len(t)]))
        ends = np.concatenate((starts[1:], [len(t)]))
        m = 0
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            if self._known and not known[a] and rest_since is not None:
                self._rewind(rest_since, float(t[a]))
            self._known = bool(known[a])
            while m < len(cuts) and cuts[m] <= a:
                self.state, self._last_peak = kinds[m], moves[m][1]
                m += 1
            code = int(posture[a])
            if known[a]:
                self.state = _state_after(code, self.state)
                if not self._told or self._told[-1][1] != self.state:
                    self._told.append((float(t[a]), self.state))
            elif code in _UPRIGHT_STILL:
                if self.state is not None:
                    posture[a:b] = self.state
            elif code == Posture.WALKING:
                # the walk's bout may reach past the sit-down that ended it: that walk says nothing
                if float(t[b - 1]) - self._last_peak > self.s.walk_overlap_s:
                    self.state = int(Posture.STANDING)
            elif code != Posture.UNKNOWN or b - a >= self.s.lost_s * FRAME_HZ:
                self.state = None  # lying, off the body, or data lost for long
        return posture


def _state_after(code: int, state: int | None) -> int | None:
    """The sitting/standing state a known posture leaves: itself, standing after a walk, unknown
    after lying or off the body; a moment of unknown data keeps it."""
    if code in _UPRIGHT_STILL:
        return code
    if code == Posture.WALKING:
        return int(Posture.STANDING)
    return state if code == Posture.UNKNOWN else None
