"""The interface every device-family decoder implements, and what it hands on.

A decoder is pure: notification bytes in, decoded samples out, no BLE in it. It is stateful
only where the device's framing needs it (a byte stream with frames split across notifications,
a multi-part notification, a wrapping device counter). Bad bytes are counted, never raised.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class DecodedSamples:
    """Samples decoded from one or more notifications of one device.

    ``acc`` (N, 3) m/s², ``gyr`` (N, 3) rad/s or None, ``mag`` (N, 3) µT or None. ``device_time``
    (N,) float64 seconds on the device's own clock, already unwrapped to be monotonic, or None when
    the device sends no timestamps. ``seq`` (N,) int64 unwrapped per-sample sequence numbers when
    the protocol has a counter (lets the caller count lost samples), else None. ``quat`` (N, 4)
    unit quaternions ``[w, x, y, z]`` (sensor → earth, z up) when the device computes its own
    orientation, else None; a device mode that sends orientation but no accelerometer leaves
    ``acc`` all NaN.
    """

    acc: np.ndarray
    gyr: np.ndarray | None = None
    mag: np.ndarray | None = None
    device_time: np.ndarray | None = None
    seq: np.ndarray | None = None
    quat: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.acc)


@dataclass(frozen=True, slots=True)
class GattWrite:
    """One write the daemon must do to configure or start a device.

    ``delay_after_s`` is how long to wait before the next write (some devices need a pause
    between an unlock and the register write it enables).
    """

    char_uuid: str
    data: bytes
    response: bool = True
    delay_after_s: float = 0.0


@dataclass
class DecoderStats:
    """Counters a decoder keeps: good frames, samples, and every kind of bad input by name."""

    frames: int = 0
    samples: int = 0
    bad: Counter[str] = field(default_factory=Counter)

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())


class Decoder(ABC):
    """Turns one device's notification payloads into sample blocks."""

    def __init__(self) -> None:
        self.stats = DecoderStats()

    @abstractmethod
    def feed(self, data: bytes, char_uuid: str | None = None) -> DecodedSamples | None:
        """Decode one notification; None when it completed no sample. Never raises on bad bytes."""

    def reset(self) -> None:  # noqa: B027 - a no-op is right for stateless decoders
        """Forget partial frames and counter history (called after a reconnect)."""

    def flush(self) -> DecodedSamples | None:
        """Decode what is held back waiting for a possible continuation (the link ended);
        None when nothing is. Decoders that never hold a complete packet keep this default."""
        return None


def concat_samples(blocks: list[DecodedSamples]) -> DecodedSamples | None:
    """Join consecutive blocks of one device into one; None when there is nothing to join.

    An optional field (gyr, mag, …) survives only if every block has it, so a block never mixes
    rows that have a quantity with rows that lack it.
    """
    blocks = [b for b in blocks if len(b)]
    if not blocks:
        return None
    if len(blocks) == 1:
        return blocks[0]

    def joined(name: str) -> np.ndarray | None:
        parts = [getattr(b, name) for b in blocks]
        if any(p is None for p in parts):
            return None
        return np.concatenate(parts)

    return DecodedSamples(
        acc=np.concatenate([b.acc for b in blocks]),
        gyr=joined("gyr"),
        mag=joined("mag"),
        device_time=joined("device_time"),
        seq=joined("seq"),
        quat=joined("quat"),
    )
