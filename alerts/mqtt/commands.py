"""Commands that arrive on ``{prefix}/{user}/cmd/{snooze,calibrate,config}``.

Payloads are JSON objects; an optional ``"id"`` is echoed in the reply on ``…/cmd/result``.

* ``snooze``: ``{"minutes": 30}`` or ``{"until": "tomorrow"}`` or ``{"cancel": true}``, optionally
  ``"kinds": ["forward_head", …]``.
* ``calibrate``: ``{}`` or ``{"pose": "neutral"}``; runs the daemon's calibration callback.
* ``config``: ``{"alerts": {…}}``, a partial ``AlertSettings`` mapping applied on top of the
  current settings (validated as a whole before anything changes).

A malformed command never raises: it gets an error reply and is counted in ``errors`` by reason.
JSON's non-standard ``NaN``/``Infinity`` (which Python's json module accepts by default) are
refused: an infinite cooldown would silently switch a kind's alerts off.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping

from posturewatch.alerts.mqtt.payloads import COMMANDS, command_result_payload
from posturewatch.alerts.policy import AlertPolicy
from posturewatch.alerts.settings import AlertSettings, SettingsError
from posturewatch.analytics.records import EPISODE_KINDS

log = logging.getLogger(__name__)


class CommandError(ValueError):
    """A command that cannot be carried out; ``reason`` is the counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _deep_merge(base: dict, patch: Mapping) -> dict:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class CommandService:
    """Parses, validates and applies commands to one user's alert policy."""

    def __init__(
        self,
        policy: AlertPolicy,
        *,
        clock: Callable[[], float] = time.time,
        calibrate: Callable[[Mapping[str, object]], Mapping[str, object] | None] | None = None,
    ) -> None:
        # runs on the thread that owns the policy (the session's loop hands commands over)
        self.policy = policy
        self.clock = clock
        self.calibrate = calibrate
        self.errors: Counter[str] = Counter()
        self.handled: Counter[str] = Counter()

    def handle(self, command: str, raw: bytes) -> dict[str, object]:
        """Run one command; returns the reply payload (always, also for bad input)."""
        now = self.clock()
        request_id = None
        try:
            if command not in COMMANDS:
                raise CommandError("unknown_command", f"unknown command {command!r}; use {COMMANDS}")
            body = self._parse(raw)
            request_id = body.pop("id", None)
            if request_id is not None and not isinstance(request_id, str | int):
                raise CommandError("bad_field", "'id' must be a string or a number")
            result = getattr(self, f"_{command}")(body, now)
        except CommandError as exc:
            self.errors[exc.reason] += 1
            log.warning("command %s rejected: %s", command, exc)
            return command_result_payload(
                now, command, ok=False, request_id=_str_id(request_id), error=str(exc)
            )
        self.handled[command] += 1
        return command_result_payload(
            now, command, ok=True, request_id=_str_id(request_id), result=result
        )

    @staticmethod
    def _parse(raw: bytes) -> dict:
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError("bad_json", f"payload is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise CommandError("bad_json", "payload must be a JSON object")
        return body

    def _snooze(self, body: dict, now: float) -> dict[str, object]:
        unknown = set(body) - {"minutes", "until", "cancel", "kinds"}
        if unknown:
            raise CommandError("bad_field", f"snooze: unknown field(s) {sorted(unknown)}")
        if body.get("cancel") is True:
            self.policy.clear_snooze()
            return {"snoozed_until": None}
        kinds = body.get("kinds")
        if kinds is not None and (
            not isinstance(kinds, list) or any(k not in EPISODE_KINDS for k in kinds)
        ):
            raise CommandError("bad_field", f"snooze: 'kinds' must be a list of {EPISODE_KINDS}")
        minutes = body.get("minutes")
        until = body.get("until")
        if (minutes is None) == (until is None):
            raise CommandError("bad_field", "snooze needs exactly one of 'minutes' or 'until'")
        if until is not None and until != "tomorrow":
            raise CommandError("bad_field", "snooze: 'until' must be \"tomorrow\"")
        if minutes is not None and (
            isinstance(minutes, bool) or not isinstance(minutes, int | float)
            or not 0 < minutes <= 24 * 60
        ):
            raise CommandError("bad_field", "snooze: 'minutes' must be a number in (0, 1440]")
        end = self.policy.snooze(
            now, minutes=None if minutes is None else float(minutes),
            until_tomorrow=until == "tomorrow", kinds=kinds,
        )
        return {"snoozed_until_ms": round(end * 1000), "kinds": kinds}

    def _calibrate(self, body: dict, now: float) -> dict[str, object]:
        pose = body.get("pose", "neutral")
        if set(body) - {"pose"} or pose != "neutral":
            raise CommandError("bad_field", "calibrate: only {\"pose\": \"neutral\"} is supported")
        if self.calibrate is None:
            raise CommandError("unavailable", "calibration is not available in this process")
        try:
            return dict(self.calibrate(body) or {})
        except Exception as exc:  # the wearer gets the reason, the daemon keeps running
            raise CommandError("failed", f"calibration failed: {exc}") from None

    def _config(self, body: dict, now: float) -> dict[str, object]:
        if set(body) != {"alerts"} or not isinstance(body["alerts"], Mapping):
            raise CommandError("bad_field", "config: expected {\"alerts\": {…settings…}}")
        try:
            AlertSettings.from_mapping(body["alerts"])  # reports unknown keys / types by name
            merged = _deep_merge(self.policy.settings.to_mapping(), body["alerts"])
            self.policy.settings = AlertSettings.from_mapping(merged)
        except SettingsError as exc:
            raise CommandError("bad_settings", f"config: {exc}") from None
        return {"applied": sorted(body["alerts"])}


def _refuse_constant(name: str) -> object:
    raise CommandError("bad_json", f"payload is not JSON: {name} is not a JSON number")


def _str_id(request_id: object) -> str | None:
    return None if request_id is None else str(request_id)
