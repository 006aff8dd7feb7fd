"""Typed records that flow out of analytics: posture classes and episodes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Posture(IntEnum):
    """Posture classes; the integer is the ``posture_code`` written to InfluxDB."""

    UNKNOWN = 0
    LYING = 1
    SITTING = 2
    STANDING = 3
    WALKING = 4
    # reserved for later classifiers
    RUNNING = 5
    STAIRS = 6
    CYCLING = 7
    # sensors off the body (on a table, a chair, a charger, in a bag): never an episode or alert
    NOT_WORN = 8

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Posture:
        try:
            return cls[label.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown posture {label!r}") from None


def posture_in(codes: np.ndarray, postures: Iterable[int]) -> np.ndarray:
    """Whether each posture code is one of ``postures``: ``np.isin``, by a table of the few codes
    (``np.isin`` sorts, which costs more than the rest of a step's episode tracking)."""
    codes = np.asarray(codes)
    table = np.zeros(max(Posture) + 1, bool)
    table[[int(p) for p in postures]] = True
    if codes.size and (codes.min() < 0 or codes.max() >= len(table)):
        return np.isin(codes, list(postures))
    return table[codes]


EPISODE_KINDS: tuple[str, ...] = ("prolonged_sitting", "posterior_tilt", "forward_head", "lumbar_bend")


def episode_id(kind: str, start: float) -> str:
    """Stable id of an episode: the same data always gives the same id, so redelivery dedupes."""
    return f"{kind}-{round(start * 1000):d}"


@dataclass(frozen=True, slots=True)
class Episode:
    """One detected episode. ``end`` is None while it is still open.

    ``start``/``end`` are when the condition began and stopped (backdated), ``confirmed`` when the
    detector became sure (start + the sustain time). ``peak`` and ``mean`` are of the episode's
    defining angle in degrees (for ``prolonged_sitting``: minutes of sitting, both).
    """

    kind: str
    start: float
    confirmed: float
    end: float | None = None
    peak: float = float("nan")
    mean: float = float("nan")

    @property
    def id(self) -> str:
        return episode_id(self.kind, self.start)

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass(frozen=True, slots=True)
class EpisodeEvent:
    """An episode starting (confirmed) or ending; ``ts`` is when the detector emitted it."""

    type: str  # "start" | "end"
    episode: Episode
    ts: float
