"""Two simulated days (nights in bed, a nap, short bouts) replayed through the CLI: daily.csv
scored against the simulator's truth and recomputed independently from the 1 Hz output.

Per local day: steps within 3 % of the truth's heel strikes, sit-to-stand within 5 % of its
transitions; the posture minutes, wear time, long sitting bouts, posterior-tilt share and lumbar
bends of daily.csv equal what angles.csv and episodes.csv add up to. A pelvis-only replay of the
same days tells sitting from standing in ≥ 95 % of the truth's sitting and standing seconds.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from posturewatch.analytics.records import Posture
from posturewatch.analytics.scoring import score_posture
from posturewatch.ingest.recording import read_recording
from posturewatch.runtime.config import Config
from posturewatch.runtime.replay import run_replay
from posturewatch.simulators.config import Wear, WearerConfig
from posturewatch.simulators.recording import record
from posturewatch.store.rollup import per_second

pytestmark = pytest.mark.slow

WEAR = Wear(nights=True, naps=True, short_bouts=True, breathing=True)


def _rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()  # the config's zone: UTC


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    sim = tmp_path_factory.mktemp("days")
    record(WearerConfig(days=2, seed=5, rate=25, wear=WEAR), sim)
    out = sim / "replay"
    run = subprocess.run([sys.executable, "-m", "posturewatch.app.cli", "replay", sim / "sensors.csv",
                          "--out", out], capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr
    daily = {r["day"]: {k: float(v) for k, v in r.items() if k not in ("day", "local_start")}
             for r in _rows(out / "daily.csv")}
    return sim, out, daily


def test_one_row_per_local_day(two_days):
    _, _, daily = two_days
    assert list(daily) == ["2026-01-05", "2026-01-06", "2026-01-07"][: len(daily)]
    assert len(daily) >= 2
    assert all(np.isfinite(v) for values in daily.values() for v in values.values())


def test_steps_per_day_within_three_percent(two_days):
    sim, _, daily = two_days
    truth = [float(r["ts"]) for r in _rows(sim / "truth_steps.csv")]
    for day, values in daily.items():
        want = sum(_day(t) == day for t in truth)
        if want < 500:
            continue  # a few minutes of a day at the end of the recording
        error = (values["steps"] - want) / want
        print(f"{day}: steps {values['steps']:.0f} truth {want} error {error:+.4f}")
        assert abs(error) <= 0.03


def test_sit_to_stand_per_day_within_five_percent(two_days):
    sim, _, daily = two_days
    truth = [r for r in _rows(sim / "truth_transitions.csv")]
    total, total_truth = 0.0, 0
    for day, values in daily.items():
        want = sum(r["kind"] == "sit_to_stand" and _day(float(r["start"])) == day for r in truth)
        total += values["sit_to_stand"]
        total_truth += want
        print(f"{day}: sit-to-stand {values['sit_to_stand']:.0f} truth {want}, "
              f"mean {values['sit_to_stand_mean_s']:.2f} s")
        if want >= 20:
            assert abs(values["sit_to_stand"] - want) <= 0.05 * want
    assert total_truth >= 40
    assert abs(total - total_truth) <= 0.05 * total_truth


def test_daily_figures_equal_the_sums_of_the_1hz_output(two_days):
    _, out, daily = two_days
    rows = _rows(out / "angles.csv")
    t = np.array([float(r["timestamp"]) for r in rows])
    posture = np.array([r["posture"] for r in rows])
    tilt = np.array([float(r["pelvic_tilt"]) if r["pelvic_tilt"] else np.nan for r in rows])
    midnight = np.floor(t / 86400.0) * 86400.0  # UTC days
    days = np.array([_day(x) for x in np.unique(midnight)])[np.searchsorted(np.unique(midnight), midnight)]
    episodes = _rows(out / "episodes.csv")
    for day, values in daily.items():
        on = days == day
        n = on.sum()
        if n < 3600:
            continue
        # 1 Hz majority labels against 10 Hz frame sums: equal up to the seconds a change splits
        for label, key in (("sitting", "sitting_awake_min"), ("standing", "standing_min"),
                           ("walking", "walking_min")):
            minutes = (on & (posture == label)).sum() / 60.0
            assert values[key] == pytest.approx(minutes, rel=0.01, abs=1.0), (day, key)
        # lying splits into lying awake and the night in bed (angles.csv has no in-bed column)
        lying = (on & (posture == "lying")).sum() / 60.0
        assert values["lying_awake_min"] + values["in_bed_min"] == pytest.approx(lying, rel=0.01, abs=2.0)
        assert values["in_bed_min"] > 0 or day == "2026-01-05"
        worn = (on & ~np.isin(posture, ["unknown", "not_worn"])).sum() / 60.0
        assert values["wear_min"] == pytest.approx(worn, rel=0.005, abs=1.0)
        assert values["valid_day"] == (1.0 if values["wear_awake_min"] >= 600 else 0.0)
        sitting = on & (posture == "sitting")
        share = (sitting & (tilt <= -15.0)).sum() / max(sitting.sum(), 1)
        assert values["posterior_tilt_share"] == pytest.approx(share, abs=0.01)
        bends = sum(e["kind"] == "lumbar_bend" and _day(float(e["end"])) == day for e in episodes)
        assert values["lumbar_bends"] == bends
        prolonged = sum(e["kind"] == "prolonged_sitting" and _day(float(e["end"])) == day for e in episodes)
        assert values["long_sitting_bouts"] == prolonged
        print(f"{day}: sitting {values['sitting_awake_min']:.1f} min, "
              f"walking {values['walking_min']:.1f}, long bouts {values['long_sitting_bouts']:.0f}, "
              f"breaks/h {values['breaks_per_sitting_hour']:.2f}")


def test_pelvis_alone_tells_sitting_from_standing(two_days):
    sim, _, _ = two_days
    rec = read_recording(sim / "sensors.csv")
    res = run_replay({"pelvis": rec.blocks["pelvis"]}, Config())
    sec = per_second(res.t, res.angles, res.posture)
    labels = [Posture(int(x)).label for x in sec.posture]
    truth = _rows(sim / "truth_posture.csv")
    upright = [r for r in truth if r["posture"] in ("sitting", "standing")]
    score = score_posture(sec.t, labels, np.array([float(r["timestamp"]) for r in upright]),
                          [r["posture"] for r in upright])
    print(f"pelvis only, sitting vs standing: {score.agreement:.4f} over {score.seconds} s; "
          f"sitting→standing {score.share('sitting', 'standing'):.3f}, "
          f"standing→sitting {score.share('standing', 'sitting'):.3f}")
    assert score.seconds > 10 * 3600
    assert score.agreement >= 0.95
