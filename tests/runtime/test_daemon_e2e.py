"""Issue 4's acceptance test: the whole daemon, unmodified, for a simulated hour in virtual time.

Three emulated sensors of three families (WitMotion on the thigh, Movesense on the pelvis, PWRP
on the thorax) move like the synthetic wearer; each is disconnected several times, loses 2 % of
its packets, and sends garbage now and then. The daemon publishes through its outbox to a
private Mosquitto (status, episodes, alerts are read back from there) and, with no InfluxDB
configured, into its embedded SQLite store (the 1 Hz posture and angles are read from there: a
subscriber to the 1 Hz topic would compete for the CPU the hour is timed on):

* every sensor reconnected after every drop;
* posture agrees with the simulator's truth on ≥ 97 % of the seconds (3 s around transitions
  ignored), scored only on the seconds where every sensor delivered data — a reconnect gap is a
  gap, reported as missing angles, never filled in;
* for each episode kind present, precision and recall ≥ 0.95 and median onset error ≤ 10 s;
* the retained ``status`` reports the loss and the gaps the emulators injected (their
  ``FaultTally``): exactly for the timestamped families, within a few packets for WitMotion,
  which sends neither timestamps nor counters so loss can only be inferred from arrival times.

The wearer stood still for ``posturewatch calibrate`` at the start of the day: the stored file is
made by the calibrate command's own summary of that stretch and loaded by the daemon.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from servers import MqttCollector

from posturewatch.analytics.records import EPISODE_KINDS, Posture
from posturewatch.analytics.scoring import score_episodes, score_posture
from posturewatch.ingest.pose import summarize
from posturewatch.ingest.records import SensorBlock
from posturewatch.runtime.calibration_file import load_calibrations, write_calibration
from posturewatch.runtime.config import from_mapping
from posturewatch.runtime.daemon import daemon_session
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.devices.backend import EmulatedBackend, emulate_config
from posturewatch.simulators.devices.faults import FaultPlan
from posturewatch.simulators.devices.motion import WearerMotion
from posturewatch.simulators.devices.vtime import run_virtual
from posturewatch.simulators.wearer import Truth, simulate
from posturewatch.store.sqlite import SqliteStore

pytestmark = pytest.mark.slow  # end to end over minutes of data; `-m 'not slow'` skips it

SEED = 3
HOURS = 1.0
USER = "e2e"
SENSORS = [
    {"location": "thigh", "family": "witmotion", "address": "AA:00:00:00:00:01", "rate_hz": 50},
    {"location": "pelvis", "family": "movesense", "address": "AA:00:00:00:00:02", "rate_hz": 52},
    {"location": "thorax", "family": "pwrp", "address": "AA:00:00:00:00:03", "rate_hz": 50},
]
FAULTS = FaultPlan(drop_prob=0.02, garbage_prob=0.01, disconnect_mean_s=600.0)
TIMESTAMPED = ("pelvis", "thorax")


def _chunks(blocks: dict[str, SensorBlock], start: float, end: float, step: float = 10.0):
    """The simulated day in 10 s pieces, the way the emulators' motion source consumes it."""
    for t0 in np.arange(start, end, step):
        yield {loc: b.slice(int(np.searchsorted(b.t, t0)), int(np.searchsorted(b.t, t0 + step)))
               for loc, b in blocks.items()}


def _neutral_window(truth: Truth, start: float) -> tuple[float, float]:
    """The first ≥ 6 s the wearer stands neutral (truth angles within 2°), after arriving."""
    a = truth.angles_10hz
    ok = ((Truth.labels(truth.posture_10hz) == "standing") & (np.abs(a["pelvic_tilt"]) < 2)
          & (np.abs(a["trunk_inclination"]) < 2) & (np.abs(a["thigh_inclination"]) < 2))
    idx = np.flatnonzero(ok)
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    run = next(r for r in runs if len(r) >= 60)
    return float(truth.t_10hz[run[0]]), float(truth.t_10hz[run[-1]])


@pytest.fixture(scope="module")
def hour(tmp_path_factory, mosquitto):
    tmp = tmp_path_factory.mktemp("daemon_e2e")
    wearer = WearerConfig(hours=HOURS, seed=SEED, rate=50.0).with_realism(
        clock=False, jitter=False, packet_loss=False, dropout=False)  # the BLE link does these
    day = simulate(wearer)
    t0, t1 = _neutral_window(day.truth, wearer.start)
    still = [b.slice(int(np.searchsorted(b.t, t0)), int(np.searchsorted(b.t, t1)))
             for b in day.blocks.values()]
    cal_path = tmp / "calibration.json"
    write_calibration(cal_path, USER, {}, {"neutral": summarize(still, 4.0)})

    config = from_mapping({
        "user": USER, "sensors": SENSORS, "ble": {"max_backoff_s": 10},
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "status_interval_s": 60},
        "store": {"dir": str(tmp / "state")},
    })
    settings = config
    calibrations, notes = load_calibrations(cal_path, settings.pipeline.declared)
    assert set(calibrations) == {"pelvis", "thigh", "thorax"}, notes
    topics = [f"posturewatch/{USER}/{kind}" for kind in ("status", "episodes", "alerts")]

    async def main(now):
        motion = WearerMotion(_chunks(day.blocks, wearer.start, wearer.end), start=wearer.start)
        faults = {s["location"]: FAULTS for s in SENSORS}
        devices = emulate_config(settings.ble, now, motion=motion, faults=faults, seed=SEED)
        daemon = daemon_session(config, EmulatedBackend(devices), calibrations=calibrations,
                                now=now, seed=SEED)
        await daemon.run(duration_s=HOURS * 3600.0)
        return daemon, {d.location: d for d in devices}

    # a module fixture cannot use the per-test ``cleanup``; ``with`` closes it also on failure
    with MqttCollector(mosquitto.host, mosquitto.port, topics) as collector:
        started = time.perf_counter()
        daemon, devices = run_virtual(main, epoch=wearer.start)
        wall = time.perf_counter() - started
        offline = f"posturewatch/{USER}/status"
        collector.wait_for(lambda m: any(t == offline and b'"offline"' in p for t, p, _ in m), 30)
    print(f"simulated hour in {wall:.1f} s wall; {daemon.frames_out} frames, "
          f"{daemon.outputs.status_published} status messages")
    store = SqliteStore(tmp / "state" / "store.db")
    seconds = store.angles_between(USER, wearer.start, wearer.end + 60)
    store.close()
    return day, daemon, devices, collector, seconds


def _seconds(seconds) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Per second (from the embedded store): time, posture, whether every sensor had data."""
    need = ("pelvic_tilt", "thigh_inclination", "trunk_inclination")
    complete = np.all([np.isfinite(seconds.angles[k]) for k in need], axis=0)
    labels = [Posture(int(code)).label for code in seconds.posture]
    return seconds.t.astype(float), labels, complete


def test_every_sensor_reconnects_after_every_drop(hour):
    _, daemon, devices, collector, _ = hour
    final = collector.json_on(f"posturewatch/{USER}/status")[-1]
    assert final["state"] == "offline"
    for location, device in devices.items():
        s, tally = final["sensors"][location], device.tally
        print(f"{location}: {s['connections']} connections, {tally.disconnects} drops injected")
        assert tally.disconnects >= 3, f"{location}: the plan should drop the link several times"
        assert s["connections"] == tally.connects == tally.disconnects + 1
        assert s["disconnects"] == tally.disconnects


def test_status_reports_the_injected_loss_and_gaps(hour):
    _, _, devices, collector, _ = hour
    statuses = collector.json_on(f"posturewatch/{USER}/status")
    assert len(statuses) >= 60, "status is published at least every minute"
    final = statuses[-1]["sensors"]
    for location, device in devices.items():
        s, tally = final[location], device.tally
        print(f"{location}: lost {s['lost']} (injected {tally.lost_samples}), gaps {s['gaps']} "
              f"{s['gap_s']:.1f} s (injected {tally.gaps} {tally.gap_s:.1f} s), "
              f"bad {s['bad_packets']} (garbage {tally.garbage_packets})")
        assert tally.lost_samples > 0.01 * tally.samples_sent
        if location in TIMESTAMPED:
            assert s["lost"] == tally.lost_samples
        else:
            assert abs(s["lost"] - tally.lost_samples) <= 0.05 * tally.lost_samples
        assert s["gaps"] == tally.gaps >= 3
        assert s["gap_s"] == pytest.approx(tally.gap_s, abs=0.5 * tally.gaps)
        assert s["bad_packets"] >= tally.garbage_packets > 0
        assert s["loss_pct"] == pytest.approx(100 * s["lost"] / (s["samples"] + s["lost"]), abs=1e-3)


def test_posture_matches_truth_where_data_existed(hour):
    day, _, _, _, seconds = hour
    t, posture, complete = _seconds(seconds)
    truth = day.truth
    score = score_posture(t[complete], [p for p, c in zip(posture, complete, strict=True) if c],
                          truth.t_1hz, list(Truth.labels(truth.posture_1hz)))
    print(f"posture agreement {score.agreement:.4f} over {score.seconds} s "
          f"({(~complete).sum()} s without every sensor are not scored)")
    assert (~complete).sum() > 0, "reconnect gaps must show as missing angles"
    assert score.seconds >= 0.9 * HOURS * 3600
    assert score.agreement >= 0.97


@pytest.mark.parametrize("kind", EPISODE_KINDS)
def test_episodes_match_truth(hour, kind):
    day, _, _, collector, _ = hour
    ended = [e for e in collector.json_on(f"posturewatch/{USER}/episodes") if e["event"] == "end"]
    found = [(e["kind"], e["start_ms"] / 1000.0, e["end_ms"] / 1000.0) for e in ended]
    truth = [(e.kind, e.start, e.end) for e in day.truth.episodes]
    s = score_episodes(found, truth, kind)
    print(f"{kind}: truth {s.truth} detected {s.detected} P {s.precision:.3f} R {s.recall:.3f} "
          f"median onset error {s.median_start_error_s:.1f} s")
    if s.truth == 0:
        assert s.detected == 0
        return
    assert s.precision >= 0.95
    assert s.recall >= 0.95
    assert s.median_start_error_s <= 10.0


def test_the_hour_contains_several_episodes(hour):
    day, *_ = hour
    kinds = {e.kind for e in day.truth.episodes}
    assert len(day.truth.episodes) >= 6 and len(kinds) >= 3, json.dumps(sorted(kinds))


def test_alerts_reach_the_broker_for_the_episodes(hour):
    _, daemon, _, collector, _ = hour
    alerts = collector.json_on(f"posturewatch/{USER}/alerts")
    episodes = {e["episode_id"] for e in collector.json_on(f"posturewatch/{USER}/episodes")}
    assert {"posterior_tilt", "forward_head"} <= {a["kind"] for a in alerts}
    assert len({a["id"] for a in alerts}) == len(alerts) == daemon.alerts_out
    assert all(a["episode_id"] in episodes for a in alerts)
