"""Headless Chromium for the web tests (Debian's binary through Playwright), sign-in and the
in-page accessibility check.

``ACCESSIBILITY_CHECK`` runs in the page and returns a list of problems: a form control without
an accessible name (label, aria-label, aria-labelledby or, for buttons, its text), an image or
``role="img"`` without a text alternative, and any visible text — HTML text nodes and SVG
``<text>`` — whose contrast against the background it is drawn on is below 4.5:1 (WCAG 2
relative luminance; the background is the first opaque one up the ancestors).
"""

from __future__ import annotations

import os
from pathlib import Path

import paho.mqtt.client as mqtt
from playwright.sync_api import expect
from servers import require_binary
from web_env import PASSWORDS

from posturewatch.alerts.mqtt.payloads import encode

CHROMIUM = os.environ.get("POSTUREWATCH_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
STREAM_OPEN_MS = 30_000  # how long a loaded machine may take to open a page's event stream


def launch(playwright):
    path = require_binary(CHROMIUM, "chromium")
    return playwright.chromium.launch(executable_path=path, args=LAUNCH_ARGS)


class Tab:
    """One browser context + page with its console errors collected."""

    def __init__(self, browser, web, **context_options) -> None:
        options = {"viewport": PHONE, "base_url": web.url, "timezone_id": "UTC", "locale": "en-GB",
                   **context_options}
        self.context = browser.new_context(**options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def sign_in(self, name: str, target: str) -> None:
        self.page.goto(target)
        self.page.get_by_label("Name").fill(name)
        self.page.get_by_label("Password").fill(PASSWORDS[name])
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Sign in").click()

    def close(self) -> None:
        self.context.close()


def publish(web, subtopic: str, payload: dict, retain: bool = False) -> None:
    """One message on ann's topics of the running app's broker, delivered (PUBACK) on return."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(web.broker.host, web.broker.port)
    client.loop_start()
    client.publish(f"{web.prefix}/ann/{subtopic}", encode(payload), qos=1, retain=retain).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def wait_for_stream(t: Tab) -> None:
    """Until the page's event stream is open and has delivered its first state: the 2 s promise
    is about a change on the broker reaching an open page, not about how long a loaded machine
    takes to open the stream (that wait is event-driven, with a generous timeout)."""
    expect(t.page.locator("#live-state")).to_contain_text("Live", timeout=STREAM_OPEN_MS)
    expect(t.page.locator("body")).to_have_attribute("data-stream", "open", timeout=STREAM_OPEN_MS)


# the function itself, without the file's leading comment line
ACCESSIBILITY_CHECK = (Path(__file__).parent / "a11y_check.js").read_text().split("\n", 1)[1]
