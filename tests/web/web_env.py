"""Helpers of the web tests: wearers' stores filled by the real pipeline, accounts, the server.

``simulate_into`` (the ``stores`` fixture) simulates an hour of today for ``ann`` (Monitor →
OutputHub → embedded store, as the daemon writes it) and a shorter one for ``bob``, and gives
``ann`` a month of daily summaries before today (the simulated day's own summary scaled per day,
so trends have something to show) and one episode the store still holds as open. ``start`` (the
``web`` fixture) starts the app with ``start_web`` on a free loopback port against a private
Mosquitto, with a unique topic prefix so retained messages of other tests never show up.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from posturewatch.alerts.monitor import Monitor
from posturewatch.analytics.records import Episode
from posturewatch.app.demo_broker import free_port
from posturewatch.runtime.config import Config, WebSettings, from_mapping
from posturewatch.simulators.config import WearerConfig, parse_start
from posturewatch.simulators.wearer import iter_blocks
from posturewatch.store.hub import OutputHub
from posturewatch.store.outbox import Outbox
from posturewatch.store.sqlite import SqliteStore
from posturewatch.web.accounts import Accounts
from posturewatch.web.server import WebServer, start_web

PASSWORDS = {"ann": "ann-password-1", "bob": "bob-password-1", "drlee": "lee-password-1",
             "drkim": "kim-password-1"}
HISTORY_DAYS = 30
OPEN_EPISODE = Episode("forward_head", parse_start(f"{datetime.now(UTC).date().isoformat()}T08:55:00Z"),
                       parse_start(f"{datetime.now(UTC).date().isoformat()}T08:55:30Z"))


def today() -> date:
    return datetime.now(UTC).date()


def simulate_into(root: Path, user: str, hours: float, seed: int) -> Path:
    folder = root / user
    folder.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(folder / "store.db")
    # 08:00 UTC: after the default quiet hours, so the policy sends reminders
    start = parse_start(f"{today().isoformat()}T08:00:00Z")
    monitor = Monitor()
    hub = OutputHub(user, Outbox(folder / "outbox.db", synchronous="NORMAL"),
                    mqtt=False, influx=False, sqlite=store)
    for blocks in iter_blocks(WearerConfig(hours=hours, seed=seed, start=start), chunk_s=60.0):
        hub.process(monitor.push([b for b in blocks.values() if len(b)]))
    hub.process(monitor.close())
    hub.finish()
    if user == "ann":
        # an episode the daemon has not seen end yet (the stream stopped while the head was forward)
        store.write_episode(user, OPEN_EPISODE)
        summary = store.daily_summary(user, today())
        for back in range(1, HISTORY_DAYS + 1):
            if back % 9 == 0:
                continue  # a day without data: the trends must show the gap
            factor = 1.0 + 0.5 * ((back * 7) % 5) / 5
            day = (today() - timedelta(days=back)).isoformat()
            store.write_daily_summary(user, day, {k: v * factor if not k.startswith("response_rate")
                                                  else min(v * factor, 1.0) for k, v in summary.items()})
    store.close()
    return folder / "store.db"


@dataclass
class Web:
    server: WebServer
    config: Config
    prefix: str
    broker: object
    stores: Path

    @property
    def url(self) -> str:
        return self.server.url


def make_accounts(path: Path) -> Accounts:
    accounts = Accounts(path)
    accounts.put("ann", "wearer", PASSWORDS["ann"])
    accounts.put("bob", "wearer", PASSWORDS["bob"])
    accounts.put("drlee", "clinician", PASSWORDS["drlee"], ["ann"])
    accounts.put("drkim", "clinician", PASSWORDS["drkim"], ["bob"])
    return accounts


def start(tmp: Path, stores: Path, mosquitto, base_path: str = "", **web_settings) -> Web:
    prefix = f"pwweb{secrets.token_hex(3)}"
    config = from_mapping({"user": "ann", "alerts": {"timezone": "UTC"},
                           "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "prefix": prefix}})
    settings = WebSettings(port=free_port(), base_path=base_path, secret=secrets.token_urlsafe(32),
                           **web_settings)
    server = start_web(config, settings, stores_root=stores, accounts=make_accounts(tmp / "accounts.db"))
    server.app.feed.link.wait_connected(10)
    return Web(server, config, prefix, mosquitto, stores)
