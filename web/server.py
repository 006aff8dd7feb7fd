"""Running the web app: ``start_web(config)`` for a background thread, ``WebServer.serve()`` for a loop.

``build(config, settings)`` assembles the parts from the typed config: the accounts file, the
cookie secret, the live MQTT feed (the config's ``[mqtt]`` broker; none: live data off) and the
store reader (a wearer's ``store.db`` in their folder under the data root, or the configured
``[store] dir`` for the config's own user). ``WebServer`` wraps uvicorn:

* ``start()`` runs it in a daemon thread with its own event loop and returns once the port
  listens; ``stop()`` ends open event streams, shuts down and joins the thread.
* ``await serve()`` runs it on the caller's running loop until ``stop()`` (or the task is
  cancelled); ``posturewatch web`` does this.

TLS: ``certfile``/``keyfile`` serve HTTPS directly; behind a reverse proxy set ``base_path`` and
``secure_cookies`` instead (see deploy/README.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import threading
import time
from pathlib import Path

import uvicorn

from posturewatch.runtime.config import Config, WebSettings
from posturewatch.runtime.paths import UserPaths, data_root
from posturewatch.web.accounts import Accounts
from posturewatch.web.app import WebApp
from posturewatch.web.data import StoreReader
from posturewatch.web.live import LiveFeed
from posturewatch.web.security import load_secret

ACCOUNTS_FILE = "web-accounts.db"
START_TIMEOUT_S = 20.0


def accounts_path(settings: WebSettings) -> Path:
    return Path(settings.accounts).expanduser() if settings.accounts else data_root() / ACCOUNTS_FILE


def store_locator(config: Config, stores_root: Path | None = None):
    """``user → store.db``: ``stores_root/<user>/store.db`` when given, else the user's folder under
    the data root, except the config's own user with a ``[store] dir``."""

    def store_of(user: str) -> Path:
        if stores_root is not None:
            return UserPaths.of(user, Path(stores_root) / user).store
        if user == config.user:
            return config.paths.store
        return UserPaths.of(user).store

    return store_of


class WebServer:
    """uvicorn around a ``WebApp``; see the module docstring."""

    def __init__(self, app: WebApp, settings: WebSettings) -> None:
        self.app = app
        self.settings = settings
        self._thread: threading.Thread | None = None
        self.server = uvicorn.Server(uvicorn.Config(
            app.asgi, host=settings.host, port=settings.port, root_path=settings.base_path,
            ssl_certfile=settings.certfile, ssl_keyfile=settings.keyfile, log_level="warning",
            access_log=False, lifespan="on", proxy_headers=True, timeout_graceful_shutdown=3,
        ))

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.certfile else "http"
        return f"{scheme}://{self.settings.host}:{self.settings.port}{self.settings.base_path}"

    async def serve(self) -> None:
        await self.server.serve()

    def start(self) -> WebServer:
        self._thread = threading.Thread(target=self.server.run, name="posturewatch-web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"web server did not start on {self.settings.host}:{self.settings.port}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("web server did not start in time")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.app.feed.stop()  # ends the event streams, so shutdown need not wait for them
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.app.accounts.close()


def build(config: Config, settings: WebSettings | None = None, *, stores_root: Path | None = None,
          accounts: Accounts | None = None) -> WebApp:
    """The app for ``config`` (``settings`` overrides its ``[web]`` section)."""
    settings = settings or config.web
    secret = load_secret(settings.secret, settings.secret_file, data_root())
    mqtt = None
    if config.mqtt is not None:
        mqtt = dataclasses.replace(config.mqtt, client_id=f"posturewatch-web-{secrets.token_hex(4)}")
    return WebApp(
        accounts or Accounts(accounts_path(settings)),
        LiveFeed(mqtt, config.outputs.prefix),
        StoreReader(store_locator(config, stores_root), config.alerts.timezone, config.alerts.training),
        secret=secret, base_path=settings.base_path,
        secure_cookies=settings.secure_cookies or settings.certfile is not None,
        session_days=settings.session_days,
    )


def start_web(config: Config, settings: WebSettings | None = None, *, stores_root: Path | None = None,
              accounts: Accounts | None = None) -> WebServer:
    """Build the app and start serving it in a background thread; call ``.stop()`` to end it."""
    settings = settings or config.web
    return WebServer(build(config, settings, stores_root=stores_root, accounts=accounts), settings).start()


def run_forever(server: WebServer) -> None:
    """Serve on a fresh loop until interrupted (uvicorn handles SIGINT/SIGTERM)."""
    asyncio.run(server.serve())
