"""What each page shows, as plain values for its template (formatting in the wearer's time zone).

The Now page's script renders the same snapshot again on every live update; the server-side
rendering here is what a page shows before its script runs (and without it).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from posturewatch.analytics.report_charts import KIND_NAMES
from posturewatch.analytics.report_stats import DayData, DayStats, headline_facts, hm
from posturewatch.web import svg
from posturewatch.web.data import StoreReader

POSTURE_NAMES = {"sitting": "Sitting", "standing": "Standing", "walking": "Walking", "lying": "Lying",
                 "running": "Running", "stairs": "On stairs", "cycling": "Cycling",
                 "not_worn": "Sensors not worn", "unknown": "Not known"}
MAIN_ANGLES = {"pelvic_tilt": "Pelvic tilt", "trunk_inclination": "Upper-back lean",
               "lumbar_flexion": "Lower-back rounding", "neck_flexion": "Neck bend"}
LIVE_NAMES = {"connected": "Live", "connecting": "Connecting to the live feed…",
              "down": "Live feed unreachable; showing what was last received", "off": "Live updates are off"}


class Clock:
    def __init__(self, tz: str) -> None:
        self.zone = ZoneInfo(tz)

    def __call__(self, ts: float | None) -> str:
        return "" if ts is None else datetime.fromtimestamp(ts, self.zone).strftime("%H:%M")


def budget_texts(reminders: dict | None, clock: Clock) -> tuple[str, str]:
    """(the budget's use, "out for today" or "") for the Now page; app.js words them the same."""
    if not reminders or reminders.get("used") is None:
        return "", ""
    used, budget = int(reminders["used"]), int(reminders.get("budget") or 0)
    if not budget:
        return f"Reminders today: {used} (no daily limit)", ""
    text = f"Reminders today: {used} of {budget} used"
    if reminders.get("exhausted"):
        resumes = reminders.get("resumes_ms")
        again = f" They start again at {clock(resumes / 1000)}." if resumes else ""
        return text, f"No more reminders today.{again}"
    allowed, next_ms = reminders.get("allowed_now"), reminders.get("next_allowance_ms")
    if allowed is not None and used < int(allowed):
        return f"{text} · the next one can come now", ""
    if next_ms:
        return f"{text} · the next one not before {clock(next_ms / 1000)}", ""
    return text, ""


def since_text(snapshot: dict, clock: Clock) -> str:
    """"since 09:12 (25 min)": the duration on the data clock (the latest frame's time)."""
    since, now = snapshot.get("posture_since_ms"), snapshot.get("data_ms")
    if not since:
        return ""
    lasted = f" ({hm(max(0.0, now - since) / 1000)})" if now else ""
    return f"since {clock(since / 1000)}{lasted}"


def now_view(snapshot: dict, tz: str) -> dict:
    clock = Clock(tz)
    budget_use, budget_out = budget_texts(snapshot.get("reminders"), clock)
    posture = snapshot.get("posture")
    snooze = snapshot.get("snooze") or {}
    snooze_text = ""
    if snooze:
        until = snooze.get("until_ms")
        snooze_text = (f"Reminders paused until {clock(until / 1000)}" if snooze.get("ok") and until
                       else "Reminders on" if snooze.get("ok") else f"Pause refused: {snooze.get('error')}")
    angles = snapshot.get("angles") or {}
    return {
        "raw": snapshot,
        "posture_text": POSTURE_NAMES.get(posture, posture) if posture else "No data yet",
        "since_text": since_text(snapshot, clock),
        "live_text": LIVE_NAMES.get(str(snapshot.get("live")), str(snapshot.get("live"))),
        "angle_rows": [{"label": label, "value": "–" if angles[k] is None else f"{round(angles[k])}°"}
                       for k, label in MAIN_ANGLES.items() if k in angles],
        "episode_rows": [f"{KIND_NAMES.get(e['kind'], e['kind'])} since {clock((e['start_ms'] or 0) / 1000)}"
                         for e in snapshot.get("episodes", [])],
        "alert_rows": [{"title": a.get("title") or a.get("kind"), "message": a.get("message") or "",
                        "time": clock((a.get("ts_ms") or 0) / 1000)} for a in snapshot.get("alerts", [])[:5]],
        "sensor_rows": [f"{s['location']}: {s['state']}"
                        + ("" if s.get("battery_pct") is None else f", battery {round(s['battery_pct'])} %")
                        for s in snapshot.get("sensors", [])],
        "snooze_text": snooze_text,
        "budget_use": budget_use,
        "budget_out": budget_out,
    }


def _response(response_s: float | None, known: bool) -> str:
    if not known:
        return "not known"
    if response_s is None:
        return "no change recorded"
    return f"changed posture after {hm(response_s)}"


def day_view(data: DayData, stats: DayStats, today: str) -> dict:
    clock = Clock(data.tz)
    return {
        "heading": "Today" if data.day == today else f"Day {data.day}",
        "day": data.day,
        "facts": headline_facts(stats, data.tz),
        "timeline": svg.timeline(data, stats),
        "legend": svg.legend(),
        "bouts": [{"start": clock(b.start), "end": clock(b.end), "length": hm(b.duration_s)}
                  for b in stats.bouts],
        "episodes": [{"kind": KIND_NAMES.get(e.kind, e.kind), "start": clock(e.start),
                      "length": "still going" if e.end is None else hm(e.end - e.start)}
                     for e in data.episodes],
        "alerts": [{"time": clock(a.ts), "title": a.title,
                    "response": _response(a.response_s, data.responses_known)} for a in data.alerts],
    }


def trend_sparks(trends) -> dict[str, str]:
    return {f.name: svg.sparkline(f.values, f"{f.label}, {len(f.values)} days") for f in trends.figures}


def patient_rows(reader: StoreReader, wearers: tuple[str, ...], snapshot) -> list[dict]:
    rows = []
    for name in wearers:
        trends = reader.trends(name, 7)
        figures = {f.name: f for f in trends.figures}
        sitting, alerts = figures.get("sitting_min"), figures.get("reminders")
        response = figures.get("response_rate_pct")
        live = snapshot(name)
        posture = live.get("posture")
        rows.append({
            "name": name,
            "live": (f"Now: {POSTURE_NAMES.get(posture, posture)}" if posture else "No live data"),
            "sitting": sitting.shown(sitting.this_week) if sitting else "–",
            "alerts": "–" if alerts is None or alerts.this_week is None else f"{alerts.this_week:.1f}",
            "response": response.shown(response.this_week) if response else "–",
            "days": trends.with_data,
            "spark": svg.sparkline(sitting.values if sitting else [None] * 7,
                                   f"{name}: sitting per day, last 7 days"),
        })
    return rows
