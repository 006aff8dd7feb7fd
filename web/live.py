"""The live picture of every wearer, from their MQTT topics, and the way commands go back.

``LiveFeed`` holds one ``MqttLink`` subscribed to each wearer's status, posture, angles, episodes,
alerts and command results (``{prefix}/+/…``; the raw sensor topics are left out on purpose: they
carry full-rate samples nobody reads here). Retained status and posture arrive at once on connect,
so a page opened before anything moves still shows where the wearer is. Every message updates the
wearer's ``WearerLive`` and is handed, as a fresh snapshot, to each page that listens (server-sent
events): paho's network thread puts it on the web server's event loop with
``call_soon_threadsafe``. A snooze from a page is published on ``{prefix}/{user}/cmd/snooze`` so
the wearer's daemon applies it through its own alert policy and answers on ``cmd/result``.
A message that is not the JSON object its topic promises is counted and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import Counter, deque
from dataclasses import dataclass, field, replace

from posturewatch.alerts.mqtt.link import MqttLink, MqttSettings
from posturewatch.alerts.mqtt.payloads import Topics, encode, split_topic

log = logging.getLogger(__name__)

LIVE_TOPICS = ("status", "posture", "angles", "episodes", "alerts", "cmd/result")
RECENT_ALERTS = 10
QUEUE_SIZE = 64


def _ms(payload: dict, key: str = "ts_ms") -> int | None:
    value = payload.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass
class WearerLive:
    """What the broker last said about one wearer."""

    status: dict | None = None
    posture: dict | None = None
    angles: dict | None = None
    episodes: dict[str, dict] = field(default_factory=dict)  # open ones, by episode id
    ended: deque = field(default_factory=lambda: deque(maxlen=200))  # ids seen ending
    alerts: deque = field(default_factory=lambda: deque(maxlen=RECENT_ALERTS))
    snooze: dict | None = None
    budget_notice: dict | None = None  # the day's "no more reminders today", kept apart from alerts

    def apply(self, kind: str, payload: dict) -> None:
        if kind == "status":
            self.status = payload
        elif kind == "posture":
            self.posture = payload
        elif kind == "angles":
            self.angles = payload
        elif kind == "episodes":
            episode_id = str(payload.get("episode_id", ""))
            if payload.get("event") == "end":
                self.episodes.pop(episode_id, None)
                self.ended.append(episode_id)
            elif episode_id:
                self.episodes[episode_id] = payload
        elif kind == "alerts" and payload.get("type") == "budget_exhausted":
            self.budget_notice = payload
        elif kind == "alerts":
            if all(a.get("id") != payload.get("id") for a in self.alerts):
                self.alerts.appendleft(payload)
        elif kind == "cmd/result" and payload.get("command") == "snooze":
            self.snooze = payload

    def snapshot(self) -> dict[str, object]:
        """Plain data for the page (the same shape the template and the script render)."""
        status = self.status or {}
        sensors = status.get("sensors") if isinstance(status.get("sensors"), dict) else {}
        posture = self.posture or {}
        angles = (self.angles or {}).get("angles") or {}
        snooze = None
        if self.snooze is not None:
            result = self.snooze.get("result") or {}
            snooze = {"ok": bool(self.snooze.get("ok")), "error": self.snooze.get("error"),
                      "until_ms": result.get("snoozed_until_ms"), "ts_ms": _ms(self.snooze)}
        reminders = status.get("reminders") if isinstance(status.get("reminders"), dict) else None
        notice = self.budget_notice
        return {
            "online": status.get("state") == "online" if status else None,
            "status_ms": _ms(status),
            "posture": posture.get("posture"),
            "posture_since_ms": _ms(posture, "since_ms"),
            # the data clock: the time of the latest frame (a demo runs faster than the wall clock)
            "data_ms": max((m for m in (_ms(posture), _ms(self.angles or {})) if m is not None),
                           default=None),
            "sitting_today_min": posture.get("sitting_today_min"),
            "angles": {k: v for k, v in angles.items() if isinstance(v, int | float) or v is None},
            "angles_ms": _ms(self.angles or {}),
            "episodes": [{"id": e.get("episode_id"), "kind": e.get("kind"), "start_ms": _ms(e, "start_ms")}
                         for e in self.episodes.values()],
            "sensors": [{"location": loc, "state": s.get("state") or ("connected" if s.get("connected")
                                                                     else "disconnected"),
                         "battery_pct": s.get("battery_pct")}
                        for loc, s in sorted(sensors.items()) if isinstance(s, dict)],
            "alerts": [{"id": a.get("id"), "kind": a.get("kind"), "title": a.get("title"),
                        "message": a.get("message"), "ts_ms": _ms(a)} for a in self.alerts],
            "snooze": snooze,
            "reminders": _reminders(reminders, notice),
        }


def _reminders(reminders: dict | None, notice: dict | None) -> dict | None:
    """The status payload's reminder budget, plus the day's "out for today" notice if one came."""
    if reminders is None:
        return None
    keys = ("day", "budget", "used", "allowed_now", "remaining", "next_allowance_ms", "exhausted",
            "resumes_ms")
    out: dict[str, object] = {k: reminders.get(k) for k in keys}
    if out["exhausted"] and out["resumes_ms"] is None and notice and notice.get("day") == out["day"]:
        out["resumes_ms"] = _ms(notice, "resumes_ms")
    return out


class LiveFeed:
    """See the module docstring. ``settings`` None: no broker (pages say live data is off)."""

    def __init__(self, settings: MqttSettings | None, prefix: str = "posturewatch") -> None:
        self.prefix = prefix
        self.errors: Counter[str] = Counter()
        self._wearers: dict[str, WearerLive] = {}
        self._listeners: dict[str, set[asyncio.Queue]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.link: MqttLink | None = None
        if settings is not None:
            subscriptions = tuple((f"{prefix}/+/{name}", 1) for name in LIVE_TOPICS)
            settings = replace(settings, subscriptions=subscriptions,
                               client_id=settings.client_id or "posturewatch-web")
            self.link = MqttLink(settings, on_message=self._on_message)

    @property
    def state(self) -> str:
        return "off" if self.link is None else self.link.state

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin listening; snapshots are handed to listeners on ``loop``."""
        self._loop = loop
        if self.link is not None:
            self.link.start()

    def stop(self) -> None:
        """Disconnect and end every open event stream (callable from any thread)."""
        if self.link is not None:
            self.link.stop()
        with self._lock:
            queues = [q for group in self._listeners.values() for q in group]
        loop = self._loop
        for queue in queues:
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._offer, queue, None)

    def snapshot(self, user: str) -> dict[str, object]:
        with self._lock:
            live = self._wearers.get(user) or WearerLive()
            return {**live.snapshot(), "live": self.state}

    def ended(self, user: str) -> set[str]:
        """Ids of the episodes seen ending since the feed started (the store may lag behind)."""
        with self._lock:
            live = self._wearers.get(user)
            return set(live.ended) if live else set()

    # ---- listeners (on the event loop) ---------------------------------------------------
    def listen(self, user: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        with self._lock:
            self._listeners.setdefault(user, set()).add(queue)
        return queue

    def unlisten(self, user: str, queue: asyncio.Queue) -> None:
        with self._lock:
            self._listeners.get(user, set()).discard(queue)

    @staticmethod
    def _offer(queue: asyncio.Queue, item: object) -> None:
        """Never blocks: a page that falls behind loses its oldest snapshot, not the newest."""
        if queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
        queue.put_nowait(item)

    # ---- commands ------------------------------------------------------------------------
    def command(self, user: str, name: str, body: dict) -> bool:
        """Publish a command for ``user`` (QoS 1); False when no broker connection is up."""
        if self.link is None or not self.link.connected:
            return False
        topic = Topics(user, self.prefix).cmd(name)
        return self.link.publish_raw(topic, encode(body), qos=1, retain=False) is not None

    # ---- paho's network thread -----------------------------------------------------------
    def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            user, kind = split_topic(topic, self.prefix)
        except ValueError:
            self.errors["foreign_topic"] += 1
            return
        if kind not in LIVE_TOPICS:
            return
        if not payload:  # a cleared retained message
            return
        try:
            body = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        if not isinstance(body, dict):
            self.errors["bad_json"] += 1
            log.warning("web: %s is not a JSON object; dropped", topic)
            return
        with self._lock:
            live = self._wearers.setdefault(user, WearerLive())
            live.apply(kind, body)
            snap = {**live.snapshot(), "live": self.state}
            queues = list(self._listeners.get(user, ()))
        loop = self._loop
        if loop is None or loop.is_closed() or not queues:
            return
        event = ("alert", body) if kind == "alerts" else ("state", snap)
        for queue in queues:
            if event[0] == "alert":
                loop.call_soon_threadsafe(self._offer, queue, ("state", snap))
            loop.call_soon_threadsafe(self._offer, queue, event)
