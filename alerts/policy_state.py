"""The alert policy's state as a versioned, JSON-able dict, and back.

What a restarted daemon needs to go on as if it had never stopped: the open episodes with
their due times, repeat counters and hold-backs already counted, the follow-ups of the last
days (the day summary and the escalation depend on them), the cooldowns, the snooze, the day's
budget and the ignored-in-a-row streaks. Open episodes come back as *carried*: the detector's
own state is not kept, so after the restart it reports a continuing episode again under a new
id, and the policy joins the two (``AlertPolicy._resume``) instead of reminding afresh.

Non-finite floats (a due time of inf, no snooze) are stored as None so the JSON is strict.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict
from typing import TYPE_CHECKING

from posturewatch.alerts.records import Alert, FollowUp, Suppression
from posturewatch.analytics.records import Episode

if TYPE_CHECKING:
    from posturewatch.alerts.policy import AlertPolicy, _OpenEpisode

VERSION = 1


def _f(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _g(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def _episode(e: Episode) -> dict:
    return {"kind": e.kind, "start": e.start, "confirmed": e.confirmed, "end": e.end,
            "peak": _f(e.peak), "mean": _f(e.mean)}


def _follow_up(f: FollowUp) -> dict:
    return {"alert": asdict(f.alert), "response_s": f.response_s, "ended_before": f.ended_before,
            "feedback": f.feedback}


def _open(o: _OpenEpisode) -> dict:
    return {"episode": _episode(o.episode), "first_due": o.first_due, "repeat": o.repeat,
            "due": _f(o.due), "counted": sorted([r, reason] for r, reason in o.counted),
            "alerts": [f.alert.id for f in o.alerts], "finished": o.finished}


def snapshot(policy: AlertPolicy) -> dict:
    """Everything ``restore`` needs; open and carried episodes are saved alike."""
    opened = [*policy._open.values(), *policy._carried.values()]
    return {
        "version": VERSION,
        "open": [_open(o) for o in opened],
        "follow_ups": [_follow_up(f) for f in policy._follow_ups],
        "unjudged": [f.alert.id for f in policy._unjudged],
        "last_alert_ts": dict(policy._last_alert_ts),
        "budget_used": dict(policy._budget._used),
        "budget_said": sorted(policy._budget._said),
        "ignored_in_a_row": policy.ignored_in_a_row(),  # per context (alerts/escalation.py)
        "suppressions": [[s.ts, s.kind, s.alert_id, s.reason] for s in policy._suppressions],
        "suppressed": dict(policy.suppressed),
        "sent_after_end": policy.sent_after_end,
        "snooze_until": _f(policy._snooze_until),
        "snooze_kinds": None if policy._snooze_kinds is None else sorted(policy._snooze_kinds),
    }


def restore(policy: AlertPolicy, state: dict) -> None:
    """Replace ``policy``'s state with ``state``; ValueError if it is not a version-1 snapshot."""
    from posturewatch.alerts.policy import _OpenEpisode

    if not isinstance(state, dict) or state.get("version") != VERSION:
        got = state.get("version") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"policy state of version {got!r}, this version reads {VERSION}")
    try:
        follow_ups = [FollowUp(Alert(**f["alert"]), f["response_s"], bool(f["ended_before"]),
                               bool(f["feedback"])) for f in state["follow_ups"]]
        by_id = {f.alert.id: f for f in follow_ups}
        carried: dict[str, _OpenEpisode] = {}
        for o in state["open"]:
            e = o["episode"]
            episode = Episode(e["kind"], float(e["start"]), float(e["confirmed"]), e["end"],
                              _g(e["peak"], math.nan), _g(e["mean"], math.nan))
            tracked = _OpenEpisode(episode, float(o["first_due"]), int(o["repeat"]),
                                   _g(o["due"], math.inf),
                                   {(int(r), str(reason)) for r, reason in o["counted"]},
                                   [by_id[i] for i in o["alerts"] if i in by_id], bool(o["finished"]))
            carried[episode.id] = tracked
        unjudged = [by_id[i] for i in state["unjudged"] if i in by_id]
        suppressions = [Suppression(float(ts), kind, ident, reason)
                        for ts, kind, ident, reason in state["suppressions"]]
        last = {str(k): float(v) for k, v in state["last_alert_ts"].items()}
        used = Counter({str(k): int(v) for k, v in state["budget_used"].items()})
        ignored = Counter({str(k): int(v) for k, v in state["ignored_in_a_row"].items()})
        suppressed = Counter({str(k): int(v) for k, v in state["suppressed"].items()})
        kinds = state["snooze_kinds"]
        snooze = _g(state["snooze_until"], -math.inf)
        said = {str(d) for d in state["budget_said"]}
        sent_after_end = int(state["sent_after_end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"policy state is malformed: {type(exc).__name__}: {exc}") from None
    policy._open, policy._carried, policy._alias = {}, carried, {}
    policy._resumed_at = None
    policy._follow_ups, policy._unjudged, policy._suppressions = follow_ups, unjudged, suppressions
    policy._last_alert_ts, policy._escalation.streaks, policy.suppressed = last, ignored, suppressed
    policy._budget._used, policy._budget._said = used, said
    policy._snooze_until = snooze
    policy._snooze_kinds = None if kinds is None else frozenset(kinds)
    policy.sent_after_end = sent_after_end
    policy._ending = {}
