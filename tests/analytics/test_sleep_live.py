"""Live time in bed: a provisional in-bed state long before the night is sure, confirmed or
withdrawn later, with the final (offline) in-bed times unchanged.

Figures (printed): live lag from lying down in bed to the first frame marked in bed, and the
offline onset/offset error, on simulated nights (the plan's posture at 10 Hz fed to the tracker, so
the figures are the tracker's own, apart from the posture classifier's).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from posturewatch.analytics.records import Posture
from posturewatch.analytics.scoring import score_episodes
from posturewatch.analytics.sleep import InBedTracker, SleepSettings
from posturewatch.ingest.frames import FRAME_HZ
from posturewatch.simulators.config import Wear, WearerConfig
from posturewatch.simulators.wearer import prepare

LIVE = SleepSettings()
OFFLINE = replace(LIVE, provisional_s=0.0)
CHUNK = 60 * FRAME_HZ  # a minute of frames per push


def _live(t: np.ndarray, posture: np.ndarray, settings: SleepSettings, zone="UTC"):
    """Feed minute by minute, asking about each minute as it arrives (no hold-back): the live
    in-bed mask, and the tracker at the end."""
    tracker = InBedTracker(settings, zone=zone)
    live = np.zeros(len(t), bool)
    for a in range(0, len(t), CHUNK):
        tracker.add(t[a:a + CHUNK], posture[a:a + CHUNK])
        live[a:a + CHUNK] = tracker.in_bed(t[a:a + CHUNK])
    return live, tracker


def _spans(t: np.ndarray, flag: np.ndarray) -> list[tuple[float, float]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flag.astype(np.int8), [0]))))
    return [(float(t[a]), float(t[b - 1]) + 0.1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _local(zone: ZoneInfo, hour: float) -> float:
    return datetime(2026, 3, 2, 0, 0, tzinfo=zone).timestamp() + hour * 3600


def test_sofa_is_withdrawn_and_the_night_is_confirmed_from_lying_down():
    zone = ZoneInfo("Europe/Berlin")
    t = _local(zone, 20.0) + np.arange(int(12 * 3600 * FRAME_HZ)) / FRAME_HZ
    posture = np.full(len(t), int(Posture.SITTING), np.int8)
    posture[(t >= _local(zone, 21.25)) & (t < _local(zone, 22.0))] = Posture.LYING  # 45 min sofa
    posture[(t >= _local(zone, 23.0)) & (t < _local(zone, 30.0))] = Posture.LYING  # the night
    live, tracker = _live(t, posture, LIVE, zone)
    sofa = (t >= _local(zone, 21.25)) & (t < _local(zone, 22.0))
    assert live[sofa].any()  # provisionally in bed on the sofa …
    assert not tracker.in_bed(t)[sofa].any()  # … and withdrawn once it ended without a night
    (night,) = tracker.nights
    assert abs(night.start - _local(zone, 23.0)) < 1 and abs(night.end - _local(zone, 30.0)) < 1
    first = t[live & (t >= _local(zone, 22.5))][0]
    assert first - _local(zone, 23.0) <= LIVE.provisional_s + 60  # not the 90 min of a sure night
    _, offline = _live(t, posture, OFFLINE, zone)
    assert [(n.start, n.end) for n in offline.nights] == [(night.start, night.end)]


def test_simulated_nights_live_lag_and_offline_error():
    config = WearerConfig(days=3, seed=5, wear=Wear(nights=True, naps=True))
    plan, _ = prepare(config)
    t = plan.start + np.arange(int((plan.end - plan.start) * FRAME_HZ)) / FRAME_HZ
    posture = plan.posture_codes(t).astype(np.int8)
    results = {}
    for name, settings in (("live", LIVE), ("offline", OFFLINE)):
        live, tracker = _live(t, posture, settings)
        results[name] = (live, tracker.in_bed(t))
    truth = [("in_bed", a, b) for a, b in plan.in_bed]
    assert len(truth) >= 2
    lags = {}
    for name, (live, _) in results.items():
        lags[name] = [float(t[live & (t >= a - 600) & (t < b)][0] - a) for _, a, b in truth]
    final = results["offline"][1]
    nights = []
    for _, a, b in truth:
        inside = [(s, e) for s, e in _spans(t, final) if s < b and a < e]
        nights.append(("in_bed", inside[0][0], inside[-1][1]))
    score = score_episodes(nights, truth, "in_bed")
    offset = float(np.median([abs(e - b) for (_, _, e), (_, _, b) in zip(nights, truth, strict=True)]))
    print(f"{len(truth)} nights; live lag to in bed: provisional {np.median(lags['live']) / 60:.1f} min "
          f"(was {np.median(lags['offline']) / 60:.1f} min); offline onset error "
          f"{score.median_start_error_s:.0f} s, offset error {offset:.0f} s")
    assert score.recall == 1.0 and score.precision == 1.0
    assert score.median_start_error_s <= 300.0 and offset <= 300.0
    assert max(lags["live"]) <= LIVE.provisional_s + 300.0
    assert np.median(lags["offline"]) >= LIVE.min_night_s - 300.0  # what the provisional state saves
    # the final answer, asked after the fact, is the same with the provisional state or without
    assert np.array_equal(results["live"][1], final)
