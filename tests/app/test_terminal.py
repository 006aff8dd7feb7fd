"""The live status line and log records share stderr without running into each other."""

from __future__ import annotations

import io
import logging

from posturewatch.app.terminal import LineSafeHandler, LiveLine


def test_a_log_record_clears_the_line_and_the_line_comes_back() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("posturewatch.test.terminal")
    handler = LineSafeHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with LiveLine(stream, enabled=True) as line:
            line.show("pelvis:streaming | mqtt down | outbox 12", force=True)
            logger.warning("MQTT broker 127.0.0.1:1883: cannot connect")
        text = stream.getvalue()
    finally:
        logger.removeHandler(handler)
    # the record starts on a cleared line and ends with a newline; the status is drawn again after it
    before, after = text.split("WARNING MQTT broker 127.0.0.1:1883: cannot connect\n")
    assert before.endswith("\r\033[K")
    assert after.startswith("pelvis:streaming | mqtt down | outbox 12")
    assert text.endswith("outbox 12\n")  # the last status stays on screen at the end


def test_without_a_terminal_nothing_is_drawn() -> None:
    stream = io.StringIO()
    with LiveLine(stream, enabled=False) as line:
        line.show("anything", force=True)
    assert stream.getvalue() == ""
