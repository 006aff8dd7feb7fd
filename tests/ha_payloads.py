"""Real payloads for Home Assistant checks: a simulated half hour run through a Session with a
small reminder budget, keeping the alerts, the "no more reminders today" notice and the status
payload exactly as the daemon would publish them (status minus sensors as extras)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field

from posturewatch.alerts.mqtt.payloads import (
    alert_payload,
    budget_exhausted_payload,
    encode,
    status_payload,
)
from posturewatch.alerts.settings import AlertSettings
from posturewatch.runtime.config import Config
from posturewatch.runtime.session import Session
from posturewatch.runtime.sources import SimulatedSource
from posturewatch.simulators.config import WearerConfig, parse_start

USER = "ann"


@dataclass
class Published:
    alerts: list[dict] = field(default_factory=list)
    notices: list[dict] = field(default_factory=list)
    status: dict = field(default_factory=dict)


class _Keep:
    """Outputs that keep the alert and notice payloads a step carries."""

    def __init__(self, into: Published) -> None:
        self.into = into

    def open(self, session) -> None:
        pass

    def write(self, step, now: float = 0.0) -> None:
        self.into.alerts += [json.loads(encode(alert_payload(a))) for a in step.alerts]
        self.into.notices += [json.loads(encode(budget_exhausted_payload(n))) for n in step.notices]

    def publish_status(self, session, force: bool = False) -> None:
        pass

    def restore_policy(self) -> bool:
        return False

    def save_policy(self, now: float, final: bool = False) -> None:
        pass

    def state(self) -> dict[str, object]:
        return {}

    def close(self, session) -> None:
        pass


def run_session(daily_cap: int = 2, hours: float = 0.75) -> Published:
    into = Published()
    config = dataclasses.replace(Config(), user=USER,
                                 alerts=AlertSettings(daily_cap=daily_cap, daily_burst=daily_cap))
    wearer = WearerConfig(hours=hours, seed=2, start=parse_start("2026-03-02T09:00:00Z"))
    session = Session(config, SimulatedSource(wearer, speed=None), _Keep(into))
    asyncio.run(session.run())
    status = session.status()
    extra = {k: v for k, v in status.items() if k != "sensors"}  # as LiveOutputs.publish_status
    into.status = json.loads(encode(status_payload(session.source.clock(), True, status["sensors"], **extra)))
    return into
