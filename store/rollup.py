"""Reduce 10 Hz angle frames to 1 Hz: mean per whole second, posture = the second's mode.

A processed block rarely ends on a second boundary, so ``SecondRollup`` keeps the unfinished last
second and completes it with the next block; each second is emitted exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posturewatch.analytics.records import Posture

_N_CODES = max(int(p) for p in Posture) + 1


@dataclass(slots=True)
class Seconds:
    """Per-second summaries: ``t`` (K,) int64 whole Unix seconds, ``angles`` name → (K,) float
    (NaN when the second had no finite value), ``posture`` (K,) int8 posture codes."""

    t: np.ndarray
    angles: dict[str, np.ndarray]
    posture: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


def per_second(t: np.ndarray, angles: dict[str, np.ndarray], posture: np.ndarray) -> Seconds:
    """Summarise frames per whole second (no state: every second present is emitted)."""
    t = np.asarray(t, dtype=np.float64)
    codes = np.asarray(posture, dtype=np.int64)
    if t.ndim != 1 or codes.shape != t.shape:
        raise ValueError(f"t {t.shape} and posture {codes.shape} must be equal 1-D shapes")
    if len(t) == 0:
        return Seconds(np.zeros(0, np.int64), {k: np.zeros(0) for k in angles}, np.zeros(0, np.int8))
    if np.any((codes < 0) | (codes >= _N_CODES)):
        raise ValueError(f"posture codes must be in 0..{_N_CODES - 1}")
    secs = np.floor(t).astype(np.int64)
    uniq, idx = np.unique(secs, return_inverse=True)
    k = len(uniq)
    out: dict[str, np.ndarray] = {}
    for name, values in angles.items():
        v = np.asarray(values, dtype=np.float64)
        if v.shape != t.shape:
            raise ValueError(f"angle {name!r} has shape {v.shape}, expected {t.shape}")
        finite = np.isfinite(v)
        sums = np.bincount(idx, weights=np.where(finite, v, 0.0), minlength=k)
        counts = np.bincount(idx, weights=finite.astype(np.float64), minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    votes = np.bincount(idx * _N_CODES + codes, minlength=k * _N_CODES).reshape(k, _N_CODES)
    return Seconds(uniq, out, votes.argmax(axis=1).astype(np.int8))


class SecondRollup:
    """Stateful 1 Hz reduction over consecutive blocks (timestamps must not go backwards)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        """Hold nothing (no unfinished second)."""
        self._t = np.zeros(0)
        self._angles: dict[str, np.ndarray] = {}
        self._posture = np.zeros(0, np.int64)

    def push(
        self,
        t: np.ndarray,
        angles: dict[str, np.ndarray],
        posture: np.ndarray,
        complete_before: float | None = None,
    ) -> Seconds:
        """Add a block; returns every second completed by it.

        ``complete_before`` (the block's end time, when known) declares that no frame earlier
        than it will come any more, so the second holding the block's last frame can go out now
        instead of with the next block — a process killed between blocks then loses nothing.
        """
        t = np.asarray(t, dtype=np.float64)
        if len(self._t):
            t_all = np.concatenate([self._t, t])
            names = set(angles) | set(self._angles)
            a_all = {
                n: np.concatenate([
                    self._angles.get(n, np.full(len(self._t), np.nan)),
                    np.asarray(angles.get(n, np.full(len(t), np.nan)), dtype=np.float64),
                ])
                for n in names
            }
            p_all = np.concatenate([self._posture, np.asarray(posture, dtype=np.int64)])
        else:
            t_all = t
            a_all = {n: np.asarray(v, dtype=np.float64) for n, v in angles.items()}
            p_all = np.asarray(posture, dtype=np.int64)
        if len(t_all) == 0:
            return per_second(t_all, a_all, p_all)
        last_second = np.floor(t_all[-1])
        if complete_before is not None:
            last_second = max(last_second, np.floor(complete_before))
        done = t_all < last_second
        keep = ~done
        self._t = t_all[keep]
        self._angles = {n: v[keep] for n, v in a_all.items()}
        self._posture = p_all[keep]
        return per_second(t_all[done], {n: v[done] for n, v in a_all.items()}, p_all[done])

    def flush(self) -> Seconds:
        """Emit the held unfinished second (at the end of a stream)."""
        out = per_second(self._t, self._angles, self._posture)
        self._reset()
        return out
