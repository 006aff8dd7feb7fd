"""Escalation per context: reminders the wearer keeps ignoring in one context are spaced out.

A *context* is the reminder's kind and the block of the local clock it falls in
(``escalation.context_block_min`` minutes from midnight, 2 h by default: 08:00–10:00,
10:00–12:00, …). The same block on every day is the same context, so a meeting held every
morning at 10 is one context. Each reminder ignored in a row in a context multiplies the kind's
cooldown there by ``factor`` (up to ``max_cooldown_s``); one acted on resets that context to the
base cooldown. The other contexts keep their own count: head-forward reminders ignored during the
meeting are spaced out then, while those acted on after lunch stay at the normal spacing. With
``context_block_min = 1440`` a context is the kind alone (one block a day).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from posturewatch.alerts.settings import AlertSettings


class ContextEscalation:
    """The ignored-in-a-row count of every context, and the cooldown it stretches to."""

    def __init__(self) -> None:
        self.streaks: Counter[str] = Counter()

    @staticmethod
    def context(settings: AlertSettings, kind: str, ts: float) -> str:
        """``"forward_head@10:00"``: the kind and the start of its local clock block (the kind
        alone with one block a day)."""
        block = settings.escalation.context_block_min
        if block >= 1440:
            return kind
        local = datetime.fromtimestamp(ts, settings.zone)
        start = int((local.hour * 60 + local.minute) // block * block)
        return f"{kind}@{start // 60:02d}:{start % 60:02d}"

    def cooldown_s(self, settings: AlertSettings, kind: str, ts: float | None) -> float:
        """The kind's cooldown at ``ts``: its base, stretched per reminder ignored in a row in
        ``ts``'s context (no stretch without a time)."""
        base = settings.for_kind(kind).cooldown_s
        esc = settings.escalation
        streak = self.streaks[self.context(settings, kind, ts)] if ts is not None else 0
        if not esc.enabled or not streak or base <= 0:
            return base
        return min(max(base, esc.max_cooldown_s), base * esc.factor**streak)

    def judged(self, settings: AlertSettings, kind: str, ts: float, acted: bool) -> None:
        """A reminder of ``kind`` sent at ``ts`` was acted on (resets its context) or ignored."""
        context = self.context(settings, kind, ts)
        if acted:
            self.streaks[context] = 0
        else:
            self.streaks[context] += 1
