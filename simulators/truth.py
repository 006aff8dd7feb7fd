"""Ground-truth episode labeler: the shared EPISODE RULES applied to an exact 10 Hz series.

Written independently of the analytics detectors (which implement the same rules in streaming
form) so that scoring compares two implementations, not one with itself. Works on whole arrays
with run-length logic, no per-sample loop.

Conventions used where the rules leave a sample-level choice:
- a run of samples "lasts" X seconds when the time elapsed from its first sample to one of its
  samples reaches X (what a streaming detector sees: ``t - since >= X``);
- an episode or bend ends at the first sample at which its condition stopped holding; one still
  open at the end of the data ends at ``t_end`` (the end of the recording).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUSTAIN_S = 60.0
RELEASE_S = 10.0
SITTING_LIMIT_S = 30 * 60.0
SITTING_BREAK_S = 60.0
BEND_DEG = 45.0
BEND_GAP_S = 0.5
UPRIGHT_POSTURES = ("sitting", "standing")
BEND_POSTURES = ("sitting", "standing", "walking")


@dataclass(frozen=True, slots=True)
class TruthEpisode:
    """One true episode; times are Unix seconds, ``peak``/``mean`` as in ``analytics.records``."""

    kind: str
    start: float
    end: float
    confirmed: float
    peak: float
    mean: float


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last index (inclusive) of each run of True in ``mask``."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return edges[0::2], edges[1::2] - 1


def _long_runs(t: np.ndarray, mask: np.ndarray,
               length_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Runs of ``mask`` lasting ≥ ``length_s``: (first index, index at which they reach it)."""
    a, b = runs(mask)
    long = t[b] - t[a] >= length_s - 1e-9
    a = a[long]
    reached = np.searchsorted(t, t[a] + length_s - 1e-9, side="left")
    return a, reached


def hysteresis(t: np.ndarray, enter: np.ndarray, hold: np.ndarray,
               sustain_s: float = SUSTAIN_S, release_s: float = RELEASE_S,
               ) -> list[tuple[int, int, int | None]]:
    """The idle → candidate → open machine: (start_i, confirm_i, end_i or None) per episode.

    ``end_i`` is the index at which H first became false in the releasing run.
    """
    hold = np.asarray(hold, dtype=bool) | np.asarray(enter, dtype=bool)
    rel_first, rel_at = _long_runs(t, ~hold, release_s)
    enter_idx = np.flatnonzero(enter)
    out = []
    region_start = 0
    for j in range(len(rel_first) + 1):
        region_end = rel_first[j] if j < len(rel_first) else len(t)
        alive_until = rel_at[j] if j < len(rel_first) else len(t)
        k = np.searchsorted(enter_idx, region_start)
        if k < len(enter_idx) and enter_idx[k] < region_end:
            s = int(enter_idx[k])
            c = int(np.searchsorted(t, t[s] + sustain_s - 1e-9, side="left"))
            if c < alive_until:
                out.append((s, c, int(region_end) if j < len(rel_first) else None))
        if j < len(rel_first):
            region_start = int(rel_first[j])  # E is false throughout the releasing run
    return out


def _posture_in(posture: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    return np.isin(np.asarray(posture).astype(str), names)


def label_episodes(t: np.ndarray, angles: dict[str, np.ndarray], posture: np.ndarray,
                   head: bool = False, t_end: float | None = None) -> list[TruthEpisode]:
    """All episodes of the EPISODE RULES, sorted by start.

    ``t`` (M,) Unix seconds on a regular 10 Hz grid, ``angles`` the segment angles (degrees, NaN =
    missing), ``posture`` (M,) labels (``"sitting"``, ...; anything else counts as not upright),
    ``head`` whether a head sensor exists (then forward_head also needs neck_flexion).
    """
    t = np.asarray(t, dtype=float)
    t_end = float(t[-1] + (t[1] - t[0] if len(t) > 1 else 0.1)) if t_end is None else t_end
    upright = _posture_in(posture, UPRIGHT_POSTURES)
    episodes: list[TruthEpisode] = []

    def close(i: int | None) -> float:
        return t_end if i is None else float(t[i])

    with np.errstate(invalid="ignore"):
        pelvis = np.asarray(angles["pelvic_tilt"], dtype=float)
        trunk = np.asarray(angles["trunk_inclination"], dtype=float)
        e_pt, h_pt = (pelvis <= -15) & upright, (pelvis <= -12) & upright
        e_fh = (trunk >= 20) & (trunk < 45) & upright
        h_fh = (trunk >= 17) & (trunk < 45) & upright
        if head:
            neck = np.asarray(angles["neck_flexion"], dtype=float)
            e_fh &= neck >= 20
            h_fh &= neck >= 17
    for kind, enter, hold, series, pick in (
        ("posterior_tilt", e_pt, h_pt, pelvis, np.nanmin),
        ("forward_head", e_fh, h_fh, trunk, np.nanmax),
    ):
        for s, c, e in hysteresis(t, enter, hold):
            seg = series[s:(len(t) if e is None else max(e, s + 1))]
            episodes.append(TruthEpisode(kind, float(t[s]), close(e), float(t[c]),
                                         float(pick(seg)), float(np.nanmean(seg))))
    episodes += _prolonged_sitting(t, posture, t_end)
    episodes += _lumbar_bends(t, angles, t_end, posture)
    return sorted(episodes, key=lambda ep: (ep.start, ep.kind))


def _prolonged_sitting(t: np.ndarray, posture: np.ndarray, t_end: float) -> list[TruthEpisode]:
    sitting = _posture_in(posture, ("sitting",))
    brk_first, _ = _long_runs(t, ~sitting, SITTING_BREAK_S)
    sit_idx = np.flatnonzero(sitting)
    out = []
    bounds = [*brk_first.tolist(), None]
    begin = 0
    for stop in bounds:
        k = np.searchsorted(sit_idx, begin)
        limit = len(t) if stop is None else stop
        if k < len(sit_idx) and sit_idx[k] < limit:
            start = float(t[sit_idx[k]])
            end = t_end if stop is None else float(t[stop])
            if end - start >= SITTING_LIMIT_S - 1e-9:
                minutes = (end - start) / 60.0
                out.append(TruthEpisode("prolonged_sitting", start, end,
                                        start + SITTING_LIMIT_S, minutes, minutes))
        if stop is not None:
            nxt = np.searchsorted(sit_idx, stop)
            begin = int(sit_idx[nxt]) if nxt < len(sit_idx) else len(t)
    return out


def _lumbar_bends(t: np.ndarray, angles: dict[str, np.ndarray], t_end: float,
                  posture: np.ndarray | None = None) -> list[TruthEpisode]:
    trunk = np.asarray(angles["trunk_inclination"], dtype=float)
    with np.errstate(invalid="ignore"):
        bent = trunk >= BEND_DEG
    if posture is not None:  # lying face down is not a bend (nor is anything while not worn)
        bent &= _posture_in(posture, BEND_POSTURES)
    a, b = runs(bent)
    if len(a) == 0:
        return []
    # bridge gaps shorter than BEND_GAP_S: gap from b_i+1 to a_{i+1}-1
    gap_short = t[a[1:] - 1] - t[b[:-1] + 1] < BEND_GAP_S - 1e-9
    keep_start = np.concatenate([[True], ~gap_short])
    keep_end = np.concatenate([~gap_short, [True]])
    a, b = a[keep_start], b[keep_end]
    lumbar = np.asarray(angles["lumbar_flexion"], dtype=float)
    hip = np.asarray(angles["hip_flexion"], dtype=float)
    out = []
    for s, e in zip(a, b, strict=True):
        deepest = s + int(np.nanargmax(trunk[s:e + 1]))
        if lumbar[deepest] >= hip[deepest]:
            end = float(t[e + 1]) if e + 1 < len(t) else t_end
            out.append(TruthEpisode("lumbar_bend", float(t[s]), end, end,
                                    float(lumbar[deepest]), float(np.nanmean(lumbar[s:e + 1]))))
    return out


def bends(t: np.ndarray, angles: dict[str, np.ndarray]) -> list[tuple[float, float, bool]]:
    """Every bend run (trunk ≥ 45°, short gaps bridged): (start, end, done with the back)."""
    eps = _lumbar_bends(t, {**angles, "hip_flexion": np.full_like(t, -np.inf)}, float(t[-1]))
    lumbar_starts = {ep.start for ep in _lumbar_bends(t, angles, float(t[-1]))}
    return [(ep.start, ep.end, ep.start in lumbar_starts) for ep in eps]
