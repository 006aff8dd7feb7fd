"""Shared fixtures: private real servers (DESIGN §6) for every integration test.

Session fixtures (``mosquitto``, ``victoria``) are shared by tests that only need a server up;
factories (``mosquitto_factory``, ``victoria_factory``) give a test its own instance it may stop
and restart on the same port for fault tests. Every server started here is stopped at the end of
its scope, and an atexit hook stops stragglers if the run is interrupted; ``cleanup`` does the
same for the clients and services a test opens.
"""

from __future__ import annotations

import atexit
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from servers import MosquittoServer, VictoriaMetricsServer

from posturewatch.app.demo_broker import EmbeddedBroker

_LIVE: list = []


def _stop_all() -> None:
    while _LIVE:
        server = _LIVE.pop()
        with contextlib.suppress(Exception):
            server.stop()


atexit.register(_stop_all)


def _started(server):
    _LIVE.append(server)
    server.start()
    return server


def _stopped(server) -> None:
    with contextlib.suppress(Exception):
        server.stop()
    with contextlib.suppress(ValueError):
        _LIVE.remove(server)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    """One anonymous Mosquitto for the whole session; do not stop it in a test."""
    server = _started(MosquittoServer(tmp_path_factory.mktemp("mosquitto")))
    yield server
    _stopped(server)


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoServer]]:
    """Start private Mosquitto instances: ``mosquitto_factory(password_file=..., acl_file=...)``."""
    made: list[MosquittoServer] = []

    def make(**kwargs) -> MosquittoServer:
        server = _started(MosquittoServer(tmp_path / f"mosquitto{len(made)}", **kwargs))
        made.append(server)
        return server

    yield make
    for server in made:
        _stopped(server)


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetricsServer]:
    """One VictoriaMetrics for the whole session; tests keep apart by a unique ``user`` tag."""
    server = _started(VictoriaMetricsServer(tmp_path_factory.mktemp("victoria")))
    yield server
    _stopped(server)


@pytest.fixture
def victoria_factory(tmp_path: Path) -> Iterator[Callable[..., VictoriaMetricsServer]]:
    """Start private VictoriaMetrics instances a test may stop and restart on the same port."""
    made: list[VictoriaMetricsServer] = []

    def make(**kwargs) -> VictoriaMetricsServer:
        server = _started(VictoriaMetricsServer(tmp_path / f"victoria{len(made)}", **kwargs))
        made.append(server)
        return server

    yield make
    for server in made:
        _stopped(server)


@pytest.fixture
def cleanup() -> Iterator[contextlib.ExitStack]:
    """Register what a test opens (``cleanup.callback(x.close)``, ``cleanup.enter_context(x)``):
    it is closed when the test ends, also when an assertion failed halfway."""
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture
def amqtt_broker() -> Iterator[EmbeddedBroker]:
    """The demo's embedded MQTT 3.1.1-only broker (amqtt), in-process on a free port."""
    broker = _started(EmbeddedBroker())
    yield broker
    _stopped(broker)
