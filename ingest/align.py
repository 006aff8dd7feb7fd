"""Offline time alignment of body-worn sensors whose clocks have different offsets and drifts.

What a sensor recorded at its time ``t`` really happened at ``t + offset + drift·(t − t0)`` on the
reference sensor's timeline. The sensors sit on one body, so heel strikes, bout starts and ends and
sit-to-stand transitions show up in all of them nearly at once; we measure the lag from content:

1. orientation-free activity goes onto a common 50 Hz grid (NaN in gaps): band-passed ``|acc|``
   (impacts, ~1–8 Hz) and a slow envelope of it and of ``|gyr|`` (bouts, transitions; 10 Hz);
2. in fixed windows where both sensors move, the envelope gives a coarse lag over the whole
   plausible range (gait repeats every ~0.5 s, the envelope does not); a RANSAC line joins them;
3. that line's common bias is taken out with the impact correlation summed over all windows,
   then each window's impact lag is searched within ±0.16 s (under half a step period, so the
   gait peaks one step away cannot win) and a Tukey-weighted line gives offset and drift.

Too little activity or disagreeing evidence gives an identity model whose status says why, and a
logged warning: a wrong guess would silently corrupt every later stage.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import fft
from scipy.ndimage import uniform_filter1d

from posturewatch.ingest.records import SensorBlock

log = logging.getLogger(__name__)

# ClockModel.status values: the first three carry a usable model, the last two are identity.
REFERENCE, ESTIMATED, OFFSET_ONLY = "reference", "estimated", "offset_only"
NOT_ENOUGH_ACTIVITY, INCONSISTENT = "insufficient_activity", "inconsistent"


@dataclass(frozen=True)
class ClockModel:
    """Maps a sensor's recorded times onto the reference timeline.

    ``status``: ``reference``, ``estimated`` (offset and drift from content), ``offset_only`` (too
    short to see drift), ``insufficient_activity`` or ``inconsistent`` (identity: no trustworthy
    estimate). ``residual_rms`` (s): scatter of the window lags about the line; ``n_windows``: lags
    the fit used; ``bad_samples``: input rows ignored (non-finite time or acceleration).
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
    def estimated(self) -> bool:  # offset (and maybe drift) measured from the data
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
    max_span_s: float = 3 * 86400.0  # longer is taken for a broken timestamp, not a recording
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
    rate = 1.0 / max(float(np.median(dt[:: max(1, len(dt) // 100_000)])), 1e-6)
    gaps = np.flatnonzero(dt > max(0.25, 3.5 / rate))
    del dt
    box = 2 * int(rate / fs / 2) + 1  # odd, so the anti-alias boxcar shifts nothing
    x = uniform_filter1d(x, box, mode="nearest", output=np.float64)
    lo = max(0, math.ceil((t[0] - g0) * fs))
    hi = min(n - 1, math.floor((t[-1] - g0) * fs))
    for start in range(lo, hi + 1, 1 << 20):  # chunks keep the float64 temporaries small
        stop = min(hi + 1, start + (1 << 20))
        out[start:stop] = np.interp(g0 + np.arange(start, stop) / fs, t, x)
    if len(gaps):
        first = np.clip(np.floor((t[gaps] - g0) * fs).astype(np.int64) + 1, 0, n)
        last = np.clip(np.ceil((t[gaps + 1] - g0) * fs).astype(np.int64), 0, n)
        marks = np.zeros(n + 1, dtype=np.int32)
        np.add.at(marks, first, 1)
        np.add.at(marks, last, -1)
        out[np.cumsum(marks[:n]) > 0] = np.nan
    return out


def _magnitude(xyz: np.ndarray) -> np.ndarray:
    """Row norms without a squared (N, 3) temporary; NaN or inf where a component is."""
    return np.sqrt(np.einsum("ij,ij->i", xyz, xyz, dtype=np.float64)).astype(np.float32)


def _prepare(block: SensorBlock, g0: float, n: int, win: int, cfg: AlignSettings) -> _Signals:
    """Activity signals of one sensor on the common grid."""
    t = np.asarray(block.t, dtype=np.float64)
    magnitudes = {"acc": _magnitude(block.acc)}
    if block.gyr is not None:
        magnitudes["gyr"] = _magnitude(block.gyr)
    good = np.isfinite(t) & np.isfinite(magnitudes["acc"])
    bad = int(len(t) - np.count_nonzero(good))
    if bad:
        log.warning("align %s: ignored %d samples with non-finite time or acceleration",
                    block.location, bad)
        t = t[good]
        magnitudes = {name: mag[good] for name, mag in magnitudes.items()}
    if len(t) > 1 and not np.all(t[1:] >= t[:-1]):
        order = np.argsort(t, kind="stable")
        t = t[order]
        magnitudes = {name: mag[order] for name, mag in magnitudes.items()}
    fine, env = {}, {}
    for name, mag in magnitudes.items():
        grid = _to_grid(t, mag, g0, cfg.rate_hz, n)
        if name == "acc":
            # ~1–8 Hz: a 60 ms boxcar low-pass minus a 0.5 s one; keeps impacts, drops posture.
            fine[name] = _nan_smooth(grid, 3) - _nan_smooth(grid, 25)
            grid = np.abs(fine[name])
        # Gyro only feeds the envelope: segments rotate at different phases of a stride, which
        # would bias a fine gyro lag, while impacts reach every segment within milliseconds.
        env[name] = _nan_smooth(grid, 51)[::_DECIMATE]
    cells = fine["acc"][: n // win * win].reshape(n // win, win)
    count = np.isfinite(cells).sum(axis=1)
    rms = np.sqrt(np.nansum(cells * cells, axis=1, dtype=np.float64) / np.maximum(count, 1))
    active = (count >= 0.5 * win) & (rms >= cfg.min_activity)
    return _Signals(fine, env, active, bad)


def _windows(x: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Rows ``x[s : s + length]`` for each start, NaN beyond either end of ``x``."""
    idx = starts[:, None] + np.arange(length)[None, :]
    inside = (idx >= 0) & (idx < len(x))
    return np.where(inside, x[np.clip(idx, 0, len(x) - 1)].astype(np.float64), np.nan)


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
    w, b, r = b.shape[1], _centre(b), _centre(r)
    nfft = fft.next_fast_len(w + 2 * k, real=True)
    cross = fft.irfft(np.conj(fft.rfft(b, nfft)) * fft.rfft(r, nfft), nfft)[:, : 2 * k + 1]
    cum = np.concatenate([np.zeros((len(r), 1)), np.cumsum(r * r, axis=1)], axis=1)
    e_r = cum[:, w : w + 2 * k + 1] - cum[:, : 2 * k + 1]
    denom = np.sqrt(np.einsum("ij,ij->i", b, b)[:, None] * e_r)
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
    """Sub-sample column of each row's maximum in columns ``[lo, hi]``; NaN if weak or on edge."""
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
    rng = np.random.default_rng(12345)  # deterministic: same file, same answer
    i, j = np.triu_indices(n, 1) if n <= 40 else (rng.integers(0, n, 800), rng.integers(0, n, 800))
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
    t: np.ndarray, y: np.ndarray, a: float, b: float, fit_slope: bool,
    scale_range: tuple[float, float],
) -> tuple[float, float, np.ndarray]:
    """Iteratively reweighted (Tukey biweight) refinement of the line ``a + b·t``.

    The residual scale comes from the median absolute residual, clipped to ``scale_range`` so
    that widely scattered lags (unrelated content) are rejected rather than accommodated.
    """
    weights = np.ones_like(y)
    for _ in range(20):
        res = y - a - b * t
        core = np.abs(res[weights > 0])
        mad = 1.4826 * float(np.median(core)) if len(core) else scale_range[1]
        scale = min(max(mad, scale_range[0]), scale_range[1])
        u = res / (4.685 * scale)
        weights = np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)
        if weights.sum() <= 0:
            break
        if fit_slope:
            sw = np.sqrt(weights)
            design = np.stack([sw, sw * t], axis=1)
            (a, b), *_ = np.linalg.lstsq(design, sw * y, rcond=None)
        else:
            a, b = float(np.average(y, weights=weights)), 0.0
    return a, b, weights > 0


def _keep_clock(name: str, why: str, status: str, t0: float, bad: int) -> ClockModel:
    log.warning("align %s: %s; keeping its own clock", name, why)
    return ClockModel.identity(t0, status, bad)


def _align_pair(
    ref: _Signals, other: _Signals, name: str, g0: float, t0: float, win: int, cfg: AlignSettings
) -> ClockModel:
    """Clock model of ``other`` relative to ``ref``."""
    fs, fs_env, bad = cfg.rate_hz, cfg.rate_hz / _DECIMATE, other.bad_samples
    chosen = np.flatnonzero(ref.active & other.active)  # windows where both move
    if len(chosen) < cfg.min_windows:
        return _keep_clock(name, f"{len(chosen)} windows with movement in both",
                           NOT_ENOUGH_ACTIVITY, t0, bad)
    centres = g0 + (chosen * win + (win - 1) / 2) / fs
    tc = float(centres.mean())
    x = centres - tc  # centred for a well-conditioned fit

    k_env = math.ceil((cfg.max_offset_s + cfg.max_drift * len(ref.fine["acc"]) / fs) * fs_env)
    curves = _window_curves(ref.env, other.env, chosen * (win // _DECIMATE),
                            np.zeros(len(chosen), np.int64), win // _DECIMATE, k_env + 2)
    lags = (_peaks(curves, 0, 2 * k_env + 4, cfg.coarse_min_ncc) - k_env - 2) / fs_env
    seen = np.isfinite(lags)
    if seen.sum() < cfg.min_windows:
        return _keep_clock(name, "no clear bouts or transitions in common",
                           NOT_ENOUGH_ACTIVITY, t0, bad)
    a, b, agree = _ransac_line(x[seen], lags[seen], 0.25, 1.5 * cfg.max_drift)
    if agree.sum() < cfg.min_windows:
        return _keep_clock(name, "bout and transition lags disagree", INCONSISTENT, t0, bad)
    a, b, _ = _tukey_line(x[seen][agree], lags[seen][agree], a, b, True, (0.05, 0.25))

    # Segments move in sequence in transitions and strides, biasing the envelope line by up to a
    # few tenths of a second everywhere. Summed over windows the impact correlation peaks at that
    # bias, while gait's one-step-away peaks move with each bout's cadence and wash out.
    k = round(cfg.fine_halfwidth_s * fs)
    k_wide = round(cfg.envelope_bias_s * fs) + k
    shifts = np.round((a + b * x) * fs).astype(np.int64)
    curves = _window_curves(ref.fine, other.fine, chosen * win, shifts, win, k_wide)
    bias = int(np.argmax(np.nansum(curves, axis=0)))
    lags = shifts + _peaks(curves, max(0, bias - k), min(2 * k_wide, bias + k),
                           cfg.fine_min_ncc) - k_wide
    seen = np.isfinite(lags)
    if seen.sum() < cfg.min_windows:
        return _keep_clock(name, "no confident impact lags", NOT_ENOUGH_ACTIVITY, t0, bad)
    xs, ys = x[seen], lags[seen] / fs
    a, b, _ = _ransac_line(xs, ys, 0.03, 1.5 * cfg.max_drift)
    fit_slope = xs.max() - xs.min() >= cfg.min_drift_span_s
    a, b, used = _tukey_line(xs, ys, a, b if fit_slope else 0.0, fit_slope, (0.002, 0.02))
    n_used = int(used.sum())
    if n_used < cfg.min_windows or n_used < 0.5 * len(ys) or abs(b) > 1.5 * cfg.max_drift:
        return _keep_clock(name, f"only {n_used} of {len(ys)} window lags fit one clock line",
                           INCONSISTENT, t0, bad)
    rms = float(np.sqrt(np.mean((ys[used] - a - b * xs[used]) ** 2)))
    status = ESTIMATED if fit_slope else OFFSET_ONLY
    return ClockModel(a + b * (t0 - tc), b, t0, rms, n_used, status, bad)


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
    bounds = {}
    for name, blk in blocks.items():
        t = np.asarray(blk.t, dtype=np.float64)
        ok = np.isfinite(t)
        bounds[name] = (np.min(t, where=ok, initial=np.inf), np.max(t, where=ok, initial=-np.inf))
    t0 = float(bounds[ref_name][0]) if math.isfinite(bounds[ref_name][0]) else 0.0
    g0 = float(min(s for s, _ in bounds.values()))
    if not math.isfinite(g0):
        log.warning("align: no valid timestamps in any sensor, keeping every clock")
        return {name: ClockModel.identity(t0, NOT_ENOUGH_ACTIVITY) for name in names}
    span = float(max(e for _, e in bounds.values())) - g0
    if span > cfg.max_span_s:  # one bad timestamp must not ask for a grid of years
        seen = ", ".join(f"{k} {a:.0f}…{b:.0f}" for k, (a, b) in bounds.items())
        raise ValueError(f"sensor times span {span / 3600:.1f} h, too long for one recording; "
                         f"first…last time per sensor: {seen}")
    win = _DECIMATE * max(1, round(cfg.window_s * cfg.rate_hz / _DECIMATE))
    n = int(span * cfg.rate_hz) + 1
    steps = 2 * len(names) - 1  # preparing each sensor, then aligning each non-reference one
    report = (lambda step: progress(step / steps)) if progress else (lambda step: None)

    ref = _prepare(blocks[ref_name], g0, n, win, cfg)
    report(1)
    models = {ref_name: ClockModel.identity(t0, REFERENCE, ref.bad_samples)}
    for i, name in enumerate([name for name in names if name != ref_name]):
        other = _prepare(blocks[name], g0, n, win, cfg)
        report(2 + 2 * i)
        models[name] = _align_pair(ref, other, name, g0, t0, win, cfg)
        report(3 + 2 * i)
    return {name: models[name] for name in names}
