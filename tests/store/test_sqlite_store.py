"""Embedded store: idempotent upserts by identity and per-day queries."""

from __future__ import annotations

import numpy as np

from posturewatch.alerts.records import Alert
from posturewatch.analytics.records import Episode, Posture
from posturewatch.store.rollup import Seconds
from posturewatch.store.sqlite import SqliteStore, day_bounds

T0 = 1_709_553_600.0  # 2024-03-04 12:00 UTC


def test_angles_upsert_and_read_back(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    secs = Seconds(
        np.arange(5, dtype=np.int64) + int(T0),
        {"pelvic_tilt": np.array([-1.0, -2, np.nan, -4, -5])},
        np.full(5, int(Posture.SITTING), np.int8),
    )
    assert store.write_angles("u", secs) == 5
    secs.angles["pelvic_tilt"][0] = -9.0
    store.write_angles("u", secs)  # replay overwrites
    back = store.angles_on("u", "2024-03-04")
    assert back.t.tolist() == secs.t.tolist()
    np.testing.assert_array_equal(back.angles["pelvic_tilt"], [-9.0, -2, np.nan, -4, -5])
    assert np.isnan(back.angles["neck_flexion"]).all()
    assert back.posture.tolist() == [2] * 5
    assert len(store.angles_on("other", "2024-03-04")) == 0


def test_episode_open_then_closed_is_one_row(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    opened = Episode("forward_head", T0, T0 + 60)
    store.write_episode("u", opened)
    closed = Episode("forward_head", T0, T0 + 60, T0 + 200, 30.0, 25.0)
    store.write_episode("u", closed)
    store.write_episode("u", opened)  # a late redelivered start must not reopen it
    rows = store.episodes_on("u", "2024-03-04")
    assert len(rows) == 1
    assert rows[0]["id"] == closed.id and rows[0]["end"] == T0 + 200 and rows[0]["peak"] == 30.0


def test_alerts_with_text_and_response(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    alert = Alert("a-1", "posterior_tilt", "Title", "Message", "warning", T0 + 60, "e-1", T0)
    store.write_alert("u", alert)
    store.write_alert("u", alert)
    store.record_response("u", "a-1", 42.0)
    (row,) = store.alerts_on("u", "2024-03-04")
    assert row["title"] == "Title" and row["message"] == "Message" and row["response_s"] == 42.0


def test_day_bounds_follow_the_local_zone_and_summary_roundtrip(tmp_path):
    start, end = day_bounds("2024-03-31", "Europe/Berlin")  # DST starts: a 23-hour day
    assert end - start == 23 * 3600
    store = SqliteStore(tmp_path / "s.db")
    store.write_daily_summary("u", "2024-03-04", {"sitting_min": 310.0, "alerts": 4})
    store.write_daily_summary("u", "2024-03-04", {"alerts": 5})
    assert store.daily_summary("u", "2024-03-04") == {"sitting_min": 310.0, "alerts": 5.0}
