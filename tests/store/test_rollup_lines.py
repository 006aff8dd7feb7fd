"""1 Hz rollup of 10 Hz frames and the InfluxDB line protocol of every measurement."""

from __future__ import annotations

import numpy as np
import pytest

from posturewatch.alerts.records import Alert
from posturewatch.analytics.records import Episode, Posture
from posturewatch.store.lines import (
    alert_line,
    angle_lines,
    daily_summary_line,
    episode_line,
    escape_tag,
    point,
    sensor_status_line,
)
from posturewatch.store.rollup import SecondRollup, per_second

T0 = 1_709_553_600.0


def frames(n: int, t0: float = T0):
    rng = np.random.default_rng(3)
    t = t0 + np.arange(n) / 10.0
    angles = {"pelvic_tilt": rng.normal(-10, 3, n), "trunk_inclination": rng.normal(5, 2, n)}
    posture = rng.choice([int(Posture.SITTING), int(Posture.STANDING)], size=n, p=[0.7, 0.3])
    return t, angles, posture


def test_per_second_mean_and_mode_against_direct_computation():
    t, angles, posture = frames(100)
    angles["pelvic_tilt"][13] = np.nan
    s = per_second(t, angles, posture)
    assert s.t.tolist() == [int(T0) + i for i in range(10)]
    for i in range(10):
        sel = slice(10 * i, 10 * i + 10)
        assert s.angles["pelvic_tilt"][i] == pytest.approx(np.nanmean(angles["pelvic_tilt"][sel]))
        values, counts = np.unique(posture[sel], return_counts=True)
        assert s.posture[i] == values[counts.argmax()]


def test_stateful_rollup_emits_each_second_once_across_block_boundaries():
    t, angles, posture = frames(95)
    whole = per_second(t, angles, posture)
    roll = SecondRollup()
    parts = []
    for lo, hi in [(0, 7), (7, 33), (33, 34), (34, 95)]:
        parts.append(roll.push(t[lo:hi], {k: v[lo:hi] for k, v in angles.items()}, posture[lo:hi]))
    parts.append(roll.flush())
    got_t = np.concatenate([p.t for p in parts])
    assert got_t.tolist() == whole.t.tolist()
    got = np.concatenate([p.angles["pelvic_tilt"] for p in parts])
    np.testing.assert_allclose(got, whole.angles["pelvic_tilt"])
    # flushed: nothing held any more, and the same rollup serves a later stream
    assert len(roll.flush()) == 0
    later_t, later_angles, later_posture = frames(25, T0 + 100)
    again = roll.push(later_t, later_angles, later_posture)
    assert again.t.tolist() == [int(T0) + 100, int(T0) + 101] and len(roll.flush()) == 1


def test_rollup_rejects_mismatched_shapes_and_bad_codes():
    with pytest.raises(ValueError, match="shape"):
        per_second(np.arange(3.0), {"pelvic_tilt": np.zeros(2)}, np.zeros(3))
    with pytest.raises(ValueError, match="posture codes"):
        per_second(np.arange(3.0), {}, np.array([0, 1, 99]))


def test_angle_lines_skip_nan_fields_and_escape_tags():
    t, angles, posture = frames(20)
    angles["trunk_inclination"][:10] = np.nan
    lines = angle_lines("ann smith", per_second(t, angles, posture))
    assert lines[0].startswith("angles,posture=")
    assert ",user=ann\\ smith " in lines[0]
    assert "trunk_inclination" not in lines[0] and "trunk_inclination=" in lines[1]
    assert lines[0].endswith(f" {int(T0) * 1000}") and lines[1].endswith(f" {int(T0 + 1) * 1000}")
    assert "posture_code=" in lines[0]


def test_episode_alert_status_summary_lines():
    ep = Episode("posterior_tilt", T0, T0 + 60, T0 + 300.5, -22.0, float("nan"))
    line = episode_line("u", ep)
    assert line == (
        f"episodes,kind=posterior_tilt,user=u duration_s=300.5,peak=-22.0,confirm_delay_s=60.0,"
        f"open=0i {int(T0 * 1000)}"
    )
    opened = episode_line("u", Episode("posterior_tilt", T0, T0 + 60), now=T0 + 90)
    assert "duration_s=90.0" in opened and "open=1i" in opened
    alert = Alert("id", "forward_head", "t", "m", "warning", T0 + 60, "e", T0)
    assert alert_line("u", alert).startswith("alerts,kind=forward_head,user=u severity_code=1i")
    status = sensor_status_line("u", "pelvis", T0, connected=True, battery_pct=80)
    assert status == f"sensor_status,location=pelvis,user=u connected=1i,battery_pct=80.0 {int(T0 * 1000)}"
    assert daily_summary_line("u", T0, {"sitting_min": 300}).startswith("daily_summary,user=u")
    with pytest.raises(ValueError):
        escape_tag("")


def test_keys_are_escaped_and_line_breaks_refused_everywhere_in_a_line():
    line = point("m,x y", {"a b": "c,d=e\\"}, {"f=g h,i": 1.5}, T0)
    assert line == f"m\\,x\\ y,a\\ b=c\\,d\\=e\\\\ f\\=g\\ h\\,i=1.5 {int(T0 * 1000)}"
    for text in ("a\nb", "a\rb"):
        with pytest.raises(ValueError, match="line break"):
            escape_tag(text)
        with pytest.raises(ValueError, match="line break"):
            point("m", {"user": "u"}, {text: 1.0}, T0)
        with pytest.raises(ValueError, match="line break"):
            sensor_status_line("u", f"pelvis{text}", T0, connected=True)
        with pytest.raises(ValueError, match="line break"):
            angle_lines(f"u{text}", per_second(*frames(10)))
    t, angles, posture = frames(10)
    with pytest.raises(ValueError, match="line break"):
        angle_lines("u", per_second(t, {"x=1 0\nangles,user=bob a": angles["pelvic_tilt"]}, posture))
    (odd,) = angle_lines("u", per_second(t, {"a b": angles["pelvic_tilt"]}, posture))
    assert " a\\ b=" in odd
