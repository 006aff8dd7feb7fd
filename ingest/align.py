"""Offline time alignment of body-worn sensors whose clocks have different offsets and drifts.

Each sensor's recorded timestamps come from its own clock; what it recorded at time ``t`` really
happened at ``t + offset + drift·(t − t0)`` on the reference sensor's timeline. The sensors sit on
one rigid-ish body, so heel strikes, bout starts and ends, sit-to-stand transitions and bends show
up in all of them at nearly the same instant. We measure that from content alone:

1. every sensor's orientation-free activity (``|acc|`` and, when present, ``|gyr|``) goes onto a
   common 50 Hz grid, NaN in gaps, as a band-passed "fine" signal (impacts, ~1–8 Hz) and a slow
   energy envelope (bouts and transitions, decimated to 10 Hz);
2. the recording is cut into fixed windows; windows where both sensors move are kept;
3. a coarse lag per window comes from the envelope over the whole plausible lag range (gait is
   periodic every ~0.5 s, the envelope is not), and a RANSAC line through those lags predicts the
   lag everywhere;
4. a fine lag per window is searched only within ±0.16 s of that prediction, which is less than
   half a step period, so the periodic gait peaks one step away can never win;
5. a robust (Tukey-weighted) line through the fine lags gives offset and drift.

Too little activity or inconsistent evidence gives an identity model with a status saying why, and
a logged warning: a wrong guess would silently corrupt every later stage.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from scipy import fft
from scipy.ndimage import uniform_filter1d

from posturewatch.ingest.records import SensorBlock

log = logging.getLogger(__name__)

REFERENCE = "reference"
ESTIMATED = "estimated"
OFFSET_ONLY = "offset_only"
NOT_ENOUGH_ACTIVITY = "insufficient_activity"
INCONSISTENT = "inconsistent"


@dataclass(frozen=True)
class ClockModel:
    """Maps a sensor's recorded times onto the reference timeline.

    ``status`` says where the numbers come from: ``reference``, ``estimated`` (offset and drift
    from content), ``offset_only`` (too short a span to see drift), or ``insufficient_activity`` /
    ``inconsistent`` (identity, because no trustworthy estimate exists). ``residual_rms`` (s) is
    the scatter of the per-window lags around the fitted line, ``n_windows`` how many windows the
    fit used, ``bad_samples`` how many input rows were ignored (non-finite time or acceleration).
    """

    offset: float
    drift: float
    t0: float
    residual_rms: float = math.nan
    n_windows: int = 0
    status: str = REFERENCE
    bad_samples: int = 0

    @classmethod
    def identity(cls, t0: float = 0.0, status: str = REFERENCE, bad_samples: int = 0) -> ClockModel:
        """The model that leaves times unchanged."""
        return cls(0.0, 0.0, t0, status=status, bad_samples=bad_samples)

    @property
    def estimated(self) -> bool:
        """True when offset (and maybe drift) were measured from the data."""
        return self.status in (ESTIMATED, OFFSET_ONLY)

    def apply(self, t: np.ndarray) -> np.ndarray:
        """Reference-timeline times of the recorded times ``t``."""
        t = np.asarray(t, dtype=np.float64)
        return t + self.offset + self.drift * (t - self.t0)


def apply_to_block(block: SensorBlock, model: ClockModel) -> SensorBlock:
    """The same samples with their times moved onto the reference timeline."""
    return SensorBlock(block.location, model.apply(block.t), block.acc, block.gyr, block.mag)


@dataclass(frozen=True)
class AlignSettings:
    """Tuning of :func:`estimate_clock_models`; the defaults suit 20–200 Hz body-worn IMUs."""

    rate_hz: float = 50.0  # common analysis grid
    window_s: float = 120.0  # one lag estimate per window; drift smears ≤ 12 ms within it
    max_offset_s: float = 1.0  # relative offset bound (each sensor ±0.5 s)
    max_drift: float = 100e-6  # relative drift bound (each sensor ±50 ppm)
    min_activity: float = 0.1  # RMS of band-passed |acc| (m/s²) for a window to count
    min_windows: int = 4  # fewer agreeing windows → identity
    min_drift_span_s: float = 600.0  # windows spanning less → offset only
    fine_halfwidth_s: float = 0.16  # < half the shortest plausible step period
    envelope_bias_s: float = 0.5  # how far segment sequencing may bias the envelope lags
    coarse_min_ncc: float = 0.4
    fine_min_ncc: float = 0.15


_DECIMATE = 5  # fine grid → envelope grid (50 Hz → 10 Hz)


@dataclass
class _Signals:
    fine: dict[str, np.ndarray]  # channel → (n,) float32 on the grid, NaN in gaps
    env: dict[str, np.ndarray]  # channel → (n / _DECIMATE,) float32
    active: np.ndarray  # (n_windows,) bool: enough valid samples and movement
    bad_samples: int


def _nan_smooth(x: np.ndarray, size: int) -> np.ndarray:
    """Centred moving average that ignores NaN; NaN where fewer than half the samples exist."""
    valid = np.isfinite(x)
    num = uniform_filter1d(np.where(valid, x, 0.0).astype(np.float32), size, mode="constant")
    den = uniform_filter1d(valid.astype(np.float32), size, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0.5, num / den, np.nan).astype(np.float32)


def _to_grid(t: np.ndarray, x: np.ndarray, g0: float, fs: float, n: int) -> np.ndarray:
    """Samples ``x`` at times ``t`` (sorted) resampled onto ``g0 + k/fs``; NaN in gaps."""
    keep = np.isfinite(x)
    if not keep.all():
        t, x = t[keep], x[keep]
    out = np.full(n, np.nan, dtype=np.float32)
    if len(t) < 2:
        return out
    dt = np.diff(t)
    rate = 1.0 / max(float(np.median(dt)), 1e-6)
    box = 2 * int(rate / fs / 2) + 1  # odd, so the anti-alias boxcar shifts nothing
    if box > 1:
        x = uniform_filter1d(x, box, mode="nearest")
    lo = max(0, math.ceil((t[0] - g0) * fs))
    hi = min(n - 1, math.floor((t[-1] - g0) * fs))
    if hi < lo:
        return out
    out[lo : hi + 1] = np.interp(g0 + np.arange(lo, hi + 1) / fs, t, x)
    gaps = np.flatnonzero(dt > max(0.25, 3.5 / rate))
    if len(gaps):
        first = np.clip(np.floor((t[gaps] - g0) * fs).astype(np.int64) + 1, 0, n)
        last = np.clip(np.ceil((t[gaps + 1] - g0) * fs).astype(np.int64), 0, n)
        marks = np.zeros(n + 1, dtype=np.int32)
        np.add.at(marks, first, 1)
        np.add.at(marks, last, -1)
        out[np.cumsum(marks[:n]) > 0] = np.nan
    return out


def _prepare(block: SensorBlock, g0: float, n: int, win: int, cfg: AlignSettings) -> _Signals:
    """Activity signals of one sensor on the common grid."""
    t = np.asarray(block.t, dtype=np.float64)
    acc = np.asarray(block.acc, dtype=np.float64)
    good = np.isfinite(t) & np.isfinite(acc).all(axis=1)
    bad = int(len(t) - np.count_nonzero(good))
    t, acc = t[good], acc[good]
    gyr = None if block.gyr is None else np.asarray(block.gyr, dtype=np.float64)[good]
    if len(t) > 1 and not np.all(t[1:] >= t[:-1]):
        order = np.argsort(t, kind="stable")
        t, acc = t[order], acc[order]
        gyr = None if gyr is None else gyr[order]
    magnitudes = {"acc": np.sqrt(np.einsum("ij,ij->i", acc, acc))}
    if gyr is not None:
        magnitudes["gyr"] = np.sqrt(np.einsum("ij,ij->i", gyr, gyr))
    fine, env = {}, {}
    for name, mag in magnitudes.items():
        grid = _to_grid(t, mag, g0, cfg.rate_hz, n)
        if name == "acc":
            # ~1–8 Hz: a 60 ms boxcar low-pass minus a 0.5 s one; keeps impacts, drops posture.
            fine[name] = _nan_smooth(grid, 3) - _nan_smooth(grid, 25)
            grid = np.abs(fine[name])
        # Gyro only feeds the envelope: segments rotate at different phases of a stride (the
        # thigh swings well after the heel strike), which would bias a fine gyro lag; impacts
        # reach every segment within milliseconds.
        env[name] = _nan_smooth(grid, 51)[::_DECIMATE]
    n_win = n // win
    cells = fine["acc"][: n_win * win].reshape(n_win, win)
    valid = np.isfinite(cells)
    count = valid.sum(axis=1)
    energy = np.where(valid, cells, 0.0).astype(np.float64) ** 2
    rms = np.sqrt(energy.sum(axis=1) / np.maximum(count, 1))
    active = (count >= 0.5 * win) & (rms >= cfg.min_activity)
    return _Signals(fine, env, active, bad)


def _windows(x: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Rows ``x[s : s + length]`` for each start, NaN beyond either end of ``x``."""
    idx = starts[:, None] + np.arange(length)[None, :]
    inside = (idx >= 0) & (idx < len(x))
    rows = x[np.clip(idx, 0, len(x) - 1)].astype(np.float64)
    rows[~inside] = np.nan
    return rows


def _centre(rows: np.ndarray) -> np.ndarray:
    """Rows minus their mean over valid samples, with gaps set to 0 (neutral for correlation)."""
    valid = np.isfinite(rows)
    filled = np.where(valid, rows, 0.0)
    mean = filled.sum(axis=1, keepdims=True) / np.maximum(valid.sum(axis=1, keepdims=True), 1)
    return np.where(valid, filled - mean, 0.0)


def _ncc(b: np.ndarray, r: np.ndarray, k: int) -> np.ndarray:
    """Normalised cross-correlation of rows ``b`` (m, W) within rows ``r`` (m, W + 2k).

    Column ``j`` is the correlation with ``r`` shifted by ``j − k`` samples, normalised by the
    energies of ``b`` and of the part of ``r`` it overlaps.
    """
    w = b.shape[1]
    b, r = _centre(b), _centre(r)
    nfft = fft.next_fast_len(w + 2 * k, real=True)
    cross = fft.irfft(np.conj(fft.rfft(b, nfft)) * fft.rfft(r, nfft), nfft)[:, : 2 * k + 1]
    cum = np.concatenate([np.zeros((len(r), 1)), np.cumsum(r * r, axis=1)], axis=1)
    e_r = cum[:, w : w + 2 * k + 1] - cum[:, : 2 * k + 1]
    e_b = np.einsum("ij,ij->i", b, b)[:, None]
    denom = np.sqrt(e_b * e_r)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 1e-9 * (1.0 + denom.max(initial=0.0)), cross / denom, np.nan)


def _window_curves(
    ref: dict[str, np.ndarray], other: dict[str, np.ndarray], starts: np.ndarray,
    shifts: np.ndarray, win: int, k: int,
) -> np.ndarray:
    """(m, 2k + 1) correlation per window and lag ``shift + j − k``, averaged over channels."""
    out = np.full((len(starts), 2 * k + 1), np.nan)
    batch = max(1, 2_000_000 // (win + 2 * k))
    for lo in range(0, len(starts), batch):
        sel = slice(lo, lo + batch)
        stacked = np.stack([
            _ncc(_windows(other[ch], starts[sel], win),
                 _windows(ref[ch], starts[sel] + shifts[sel] - k, win + 2 * k), k)
            for ch in other if ch in ref
        ])
        count = np.isfinite(stacked).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[sel] = np.where(count > 0, np.nansum(stacked, axis=0) / count, np.nan)
    return out


def _peaks(curves: np.ndarray, lo: int, hi: int, min_ncc: float) -> np.ndarray:
    """Sub-sample column of each row's maximum within columns ``[lo, hi]``; NaN when the
    maximum is weak, on the edge of the range, or not a clear peak."""
    score = np.where(np.isfinite(curves[:, lo : hi + 1]), curves[:, lo : hi + 1], -np.inf)
    j = np.argmax(score, axis=1)
    rows = np.arange(len(j))
    top = score[rows, j]
    left = score[rows, np.maximum(j - 1, 0)]
    right = score[rows, np.minimum(j + 1, hi - lo)]
    curv = left - 2 * top + right
    ok = (j > 0) & (j < hi - lo) & (top >= min_ncc) & np.isfinite(left + right) & (curv < 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, lo + j + 0.5 * (left - right) / curv, np.nan)


def _ransac_line(
    t: np.ndarray, y: np.ndarray, tol: float, max_slope: float
) -> tuple[float, float, np.ndarray]:
    """Line ``a + b·t`` agreeing with the most points within ``tol``; ``|b| ≤ max_slope``."""
    n = len(t)
    if n <= 40:
        i, j = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(12345)  # deterministic: same file, same answer
        i, j = rng.integers(0, n, 800), rng.integers(0, n, 800)
    dt = t[j] - t[i]
    ok = np.abs(dt) > 1e-9
    slopes = (y[j][ok] - y[i][ok]) / dt[ok]
    within = np.abs(slopes) <= max_slope
    cand_b = np.concatenate([slopes[within], np.zeros(min(n, 200))])
    cand_a = np.concatenate([(y[i][ok] - slopes * t[i][ok])[within], y[:200]])
    inliers = np.abs(y[None, :] - cand_a[:, None] - cand_b[:, None] * t[None, :]) <= tol
    best = int(np.argmax(inliers.sum(axis=1)))
    return float(cand_a[best]), float(cand_b[best]), inliers[best]


def _tukey_line(
    t: np.ndarray, y: np.ndarray, a: float, b: float, fit_slope: bool, floor: float
) -> tuple[float, float, np.ndarray]:
    """Iteratively reweighted (Tukey biweight) refinement of the line ``a + b·t``."""
    weights = np.ones_like(y)
    for _ in range(30):
        res = y - a - b * t
        core = np.abs(res[weights > 0])
        scale = max(1.4826 * float(np.median(core)) if len(core) else floor, floor)
        u = res / (4.685 * scale)
        weights = np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)
        if weights.sum() <= 0:
            break
        if fit_slope:
            sw = np.sqrt(weights)
            design = np.stack([sw, sw * t], axis=1)
            (a_new, b_new), *_ = np.linalg.lstsq(design, sw * y, rcond=None)
        else:
            a_new, b_new = float(np.average(y, weights=weights)), 0.0
        done = abs(a_new - a) < 1e-7 and abs(b_new - b) < 1e-12
        a, b = float(a_new), float(b_new)
        if done:
            break
    return a, b, weights > 0


def _align_pair(
    ref: _Signals, other: _Signals, name: str, g0: float, t0: float, win: int,
    cfg: AlignSettings, tick: Callable[[], None],
) -> ClockModel:
    """Clock model of ``other`` relative to ``ref``."""
    fs = cfg.rate_hz
    fail = ClockModel.identity(t0, NOT_ENOUGH_ACTIVITY, other.bad_samples)
    chosen = np.flatnonzero(ref.active & other.active)
    centres = g0 + (chosen * win + (win - 1) / 2) / fs
    tc = float(centres.mean()) if len(chosen) else t0
    x = centres - tc  # centred for a well-conditioned fit
    if len(chosen) < cfg.min_windows:
        tick()
        tick()
        log.warning("align %s: only %d active windows, keeping its clock", name, len(chosen))
        return fail

    fs_env = fs / _DECIMATE
    span = len(ref.fine["acc"]) / fs
    k_env = math.ceil((cfg.max_offset_s + cfg.max_drift * span) * fs_env) + 2
    curves = _window_curves(ref.env, other.env, chosen * (win // _DECIMATE),
                            np.zeros(len(chosen), np.int64), win // _DECIMATE, k_env)
    lags = _peaks(curves, 0, 2 * k_env, cfg.coarse_min_ncc) - k_env
    tick()
    seen = np.isfinite(lags)
    if seen.sum() < cfg.min_windows:
        tick()
        log.warning("align %s: no clear bouts or transitions in common, keeping its clock", name)
        return fail
    a, b, agree = _ransac_line(x[seen], lags[seen] / fs_env, 0.25, 1.5 * cfg.max_drift)
    if agree.sum() < cfg.min_windows:
        tick()
        log.warning("align %s: coarse lags disagree, keeping its clock", name)
        return replace(fail, status=INCONSISTENT)
    a, b, _ = _tukey_line(x[seen][agree], lags[seen][agree] / fs_env, a, b, True, 0.05)

    # Segments move in sequence during transitions and strides, so the envelope line can be
    # biased by a few tenths of a second, the same everywhere. Summed over all windows, the
    # impact correlation peaks at that bias; gait's one-step-away peaks sit at lags that differ
    # between bouts of different cadence and wash out.
    k = round(cfg.fine_halfwidth_s * fs)
    k_wide = round(cfg.envelope_bias_s * fs) + k
    shifts = np.round((a + b * x) * fs).astype(np.int64)
    curves = _window_curves(ref.fine, other.fine, chosen * win, shifts, win, k_wide)
    bias = int(np.argmax(np.nansum(curves, axis=0)))
    lags = shifts + _peaks(curves, max(0, bias - k), min(2 * k_wide, bias + k),
                           cfg.fine_min_ncc) - k_wide
    tick()
    seen = np.isfinite(lags)
    if seen.sum() < cfg.min_windows:
        log.warning("align %s: no confident fine lags, keeping its clock", name)
        return fail
    xs, ys = x[seen], lags[seen] / fs
    a, b, _ = _ransac_line(xs, ys, 0.03, 1.5 * cfg.max_drift)
    fit_slope = xs.max() - xs.min() >= cfg.min_drift_span_s
    a, b, used = _tukey_line(xs, ys, a, b if fit_slope else 0.0, fit_slope, 0.002)
    n_used = int(used.sum())
    if n_used < cfg.min_windows or n_used < 0.5 * len(ys) or abs(b) > 1.5 * cfg.max_drift:
        log.warning("align %s: only %d of %d window lags fit one clock line, keeping its clock",
                    name, n_used, len(ys))
        return replace(fail, status=INCONSISTENT)
    rms = float(np.sqrt(np.mean((ys[used] - a - b * xs[used]) ** 2)))
    status = ESTIMATED if fit_slope else OFFSET_ONLY
    return ClockModel(a + b * (t0 - tc), b, t0, rms, n_used, status, other.bad_samples)


def estimate_clock_models(
    blocks: Mapping[str, SensorBlock],
    reference: str | None = None,
    progress: Callable[[float], None] | None = None,
    settings: AlignSettings | None = None,
) -> dict[str, ClockModel]:
    """Clock model per sensor mapping its recorded times onto the reference sensor's timeline.

    ``blocks`` holds one whole recording per location. ``reference`` defaults to the pelvis when
    present, else the first block. ``progress`` receives the fraction done (0…1).
    """
    cfg = settings or AlignSettings()
    if not blocks:
        raise ValueError("no sensor blocks to align")
    names = list(blocks)
    ref_name = reference or ("pelvis" if "pelvis" in blocks else names[0])
    if ref_name not in blocks:
        raise ValueError(f"reference {ref_name!r} is not among the sensors {names}")
    spans = []
    for blk in blocks.values():
        t = np.asarray(blk.t, dtype=np.float64)
        t = t[np.isfinite(t)]
        if len(t):
            spans.append((float(t.min()), float(t.max())))
    ref_t = np.asarray(blocks[ref_name].t, dtype=np.float64)
    ref_t = ref_t[np.isfinite(ref_t)]
    t0 = float(ref_t.min()) if len(ref_t) else 0.0
    win = _DECIMATE * max(1, round(cfg.window_s * cfg.rate_hz / _DECIMATE))
    if not spans:
        log.warning("align: no valid timestamps in any sensor, keeping every clock")
        return {name: ClockModel.identity(t0, NOT_ENOUGH_ACTIVITY) for name in names}
    g0 = min(s for s, _ in spans)
    n = int((max(e for _, e in spans) - g0) * cfg.rate_hz) + 1

    steps = 1 + 2 * (len(names) - 1)
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(min(1.0, done[0] / steps))

    ref = _prepare(blocks[ref_name], g0, n, win, cfg)
    tick()
    models = {ref_name: ClockModel.identity(t0, REFERENCE, ref.bad_samples)}
    for name in names:
        if name == ref_name:
            continue
        other = _prepare(blocks[name], g0, n, win, cfg)
        models[name] = _align_pair(ref, other, name, g0, t0, win, cfg, tick)
        del other
    for name, model in models.items():
        if model.bad_samples:
            log.warning("align %s: ignored %d samples with non-finite time or acceleration",
                        name, model.bad_samples)
    return {name: models[name] for name in names}
