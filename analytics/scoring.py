"""Scoring detections against ground truth: posture agreement, episode precision/recall/onset error.

Used by the tests, the benches and anyone who wants to know how well a replay matched a
simulator's truth files (or hand-labelled data in the same format).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PostureScore:
    agreement: float
    seconds: int
    confusion: dict[tuple[str, str], int]

    def share(self, truth: str, predicted: str) -> float:
        total = sum(v for (t, _), v in self.confusion.items() if t == truth)
        return self.confusion.get((truth, predicted), 0) / total if total else float("nan")


def score_posture(
    t_pred: np.ndarray,
    pred: Sequence[str],
    t_true: np.ndarray,
    true: Sequence[str],
    ignore_s: float = 3.0,
    merge: dict[str, str] | None = None,
) -> PostureScore:
    """Agreement over the seconds both have, ignoring ``ignore_s`` around each truth transition.

    ``merge`` maps labels onto coarser classes (e.g. sitting and standing → upright).
    """
    merge = merge or {}
    pred_map = dict(zip(np.round(t_pred).astype(np.int64).tolist(), pred, strict=True))
    tt = np.round(t_true).astype(np.int64)
    labels = np.asarray(true)
    change = tt[1:][labels[1:] != labels[:-1]]
    near = np.zeros(len(tt), bool)
    if len(change):
        idx = np.searchsorted(change, tt)
        for j in (idx - 1, idx):
            ok = (j >= 0) & (j < len(change))
            near[ok] |= np.abs(tt[ok] - change[j[ok]]) <= ignore_s
    confusion: dict[tuple[str, str], int] = {}
    agree = total = 0
    for sec, truth, skip in zip(tt.tolist(), labels.tolist(), near.tolist(), strict=True):
        if skip or sec not in pred_map:
            continue
        a, b = merge.get(truth, truth), merge.get(pred_map[sec], pred_map[sec])
        confusion[(a, b)] = confusion.get((a, b), 0) + 1
        total += 1
        agree += a == b
    return PostureScore(agree / total if total else float("nan"), total, confusion)


@dataclass(frozen=True)
class EpisodeScore:
    kind: str
    truth: int
    detected: int
    precision: float
    recall: float
    median_start_error_s: float


def score_episodes(
    detected: Sequence[tuple[str, float, float]], truth: Sequence[tuple[str, float, float]], kind: str
) -> EpisodeScore:
    """A detection matches a truth episode of the same kind when their intervals overlap."""
    det = [(s, e) for k, s, e in detected if k == kind]
    tru = [(s, e) for k, s, e in truth if k == kind]
    hit_det = [any(s < te and ts < e for ts, te in tru) for s, e in det]
    errors = []
    found = 0
    for ts, te in tru:
        overlaps = [s for s, e in det if s < te and ts < e]
        if overlaps:
            found += 1
            errors.append(min(abs(s - ts) for s in overlaps))
    precision = sum(hit_det) / len(det) if det else float("nan")
    recall = found / len(tru) if tru else float("nan")
    med = float(np.median(errors)) if errors else float("nan")
    return EpisodeScore(kind, len(tru), len(det), precision, recall, med)


@dataclass(frozen=True)
class SettledScore:
    """Per-second agreement once a posture has settled: ``overall`` over every scored second,
    ``short`` over the seconds of true bouts ``short_s[0]``–``short_s[1]`` s long."""

    overall: float
    seconds: int
    short: float
    short_seconds: int
    short_bouts: int


def per_second_majority(t: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole seconds and the majority code of the frames in each (ties to the lower code)."""
    sec = np.floor(np.asarray(t) + 1e-6).astype(np.int64)
    codes = np.asarray(codes, np.int64)
    uniq, first = np.unique(sec, return_index=True)
    width = int(codes.max()) + 1 if len(codes) else 1
    votes = np.zeros((len(uniq), width), np.int64)
    np.add.at(votes, (np.searchsorted(uniq, sec), codes), 1)
    return uniq, votes.argmax(axis=1)


def score_settled(
    t_pred: np.ndarray, pred: np.ndarray, t_true: np.ndarray, true: np.ndarray,
    settle_s: int = 2, short_s: tuple[float, float] = (3.0, 10.0), skip: Sequence[int] = (),
) -> SettledScore:
    """Agreement of per-second codes, leaving out only the first ``settle_s`` seconds after each
    true change (and seconds whose true code is in ``skip``, e.g. not worn). Short bouts are the
    true runs of ``short_s`` seconds (inclusive) between two other postures."""
    tp = np.round(np.asarray(t_pred)).astype(np.int64)
    tt = np.round(np.asarray(t_true)).astype(np.int64)
    true = np.asarray(true)
    have = np.isin(tt, tp)
    got = np.asarray(pred)[np.searchsorted(tp, tt).clip(0, max(len(tp) - 1, 0))]
    starts = np.flatnonzero(np.concatenate(([True], true[1:] != true[:-1])))
    lengths = np.diff(np.append(starts, len(true)))
    since = np.arange(len(true)) - np.repeat(starts, lengths)
    settled = since >= np.where(np.repeat(starts, lengths) == 0, 0, settle_s)
    scored = have & settled & ~np.isin(true, list(skip))
    inner = (starts > 0) & (starts + lengths < len(true))
    short_run = inner & (lengths >= short_s[0]) & (lengths <= short_s[1])
    in_short = np.repeat(short_run, lengths) & scored
    ok = got == true
    n_short = int(in_short.sum())
    return SettledScore(float(ok[scored].mean()) if scored.any() else float("nan"), int(scored.sum()),
                        float(ok[in_short].mean()) if n_short else float("nan"), n_short,
                        int(short_run.sum()))
