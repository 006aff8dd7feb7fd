"""Fixtures of the web tests (see web_env.py): wearers' stores and the running app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Tab, launch
from playwright.sync_api import sync_playwright
from web_env import Web, simulate_into, start


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stores")
    simulate_into(root, "ann", 1.0, seed=1)
    simulate_into(root, "bob", 0.25, seed=4)
    return root


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, stores: Path, mosquitto) -> Iterator[Web]:
    running = start(tmp_path_factory.mktemp("web"), stores, mosquitto)
    yield running
    running.server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser, web):
    tabs: list[Tab] = []

    def make(**options) -> Tab:
        tabs.append(Tab(browser, web, **options))
        return tabs[-1]

    yield make
    for t in tabs:
        t.close()
