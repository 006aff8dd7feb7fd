"""What can go wrong with an emulated sensor, and a tally of what actually was injected.

A :class:`FaultPlan` sets the probabilities and schedules; the emulator draws from a seeded RNG
and records every injected fault in a :class:`FaultTally`, so a test can compare the daemon's
counters with the truth. A dropped (or truncated) packet only counts as *observable* loss once a
later packet of the same connection is delivered: loss right before a disconnect cannot be seen
by any receiver, and is tallied apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FaultPlan:
    """Fault injection settings for one emulated sensor (all off by default).

    Probabilities are per data packet (one sample group, possibly several notifications).
    ``disconnect_mean_s`` is the mean connected time before the link drops (exponential),
    ``refuse_first`` refuses that many connection attempts, ``refuse_prob`` each later one with
    that probability. ``never_appears`` keeps the sensor silent on every scan.
    ``clock_drift_ppm`` makes the device clock (and its sample rate) run fast by that much;
    ``reboot_every_s`` reboots it (clock back to zero, link dropped) after that long connected.
    """

    drop_prob: float = 0.0
    duplicate_prob: float = 0.0
    truncate_prob: float = 0.0
    garbage_prob: float = 0.0
    disconnect_mean_s: float | None = None
    refuse_first: int = 0
    refuse_prob: float = 0.0
    never_appears: bool = False
    clock_drift_ppm: float = 0.0
    reboot_every_s: float | None = None


@dataclass
class FaultTally:
    """Faults actually injected, by kind (samples where that is what a receiver can count)."""

    packets_sent: int = 0
    samples_sent: int = 0
    dropped_samples: int = 0
    truncated_samples: int = 0
    unobservable_samples: int = 0
    duplicated_samples: int = 0
    garbage_packets: int = 0
    truncated_packets: int = 0
    disconnects: int = 0
    reboots: int = 0
    refused_connects: int = 0
    connects: int = 0
    gaps: int = 0
    gap_s: float = 0.0
    last_delivered_t: float | None = None
    _pending: dict[str, int] = field(default_factory=lambda: {"drop": 0, "truncate": 0})
    _baseline: bool = False  # a packet of this connection got through before

    @property
    def lost_samples(self) -> int:
        """Samples a receiver can know it lost (dropped or truncated, then followed by data)."""
        return self.dropped_samples + self.truncated_samples

    def pend(self, kind: str, samples: int) -> None:
        if self._baseline:
            self._pending[kind] += samples
        else:  # nothing of this connection arrived yet: no receiver can know what is missing
            self.unobservable_samples += samples

    def confirm(self) -> None:
        """A later packet got through: the pending losses are observable."""
        self.dropped_samples += self._pending["drop"]
        self.truncated_samples += self._pending["truncate"]
        self._pending = {"drop": 0, "truncate": 0}
        self._baseline = True

    def delivered(self, first_t: float, last_t: float, gap_after_s: float = 1.0) -> None:
        """A packet sampled over host times [first_t, last_t] got through: a silence longer
        than ``gap_after_s`` since the previous one is a gap any receiver will see."""
        if self.last_delivered_t is not None and first_t - self.last_delivered_t > gap_after_s:
            self.gaps += 1
            self.gap_s += first_t - self.last_delivered_t
        self.last_delivered_t = last_t

    def session_ended(self) -> None:
        """The link dropped: pending losses can never be observed."""
        self.unobservable_samples += sum(self._pending.values())
        self._pending = {"drop": 0, "truncate": 0}
        self._baseline = False
