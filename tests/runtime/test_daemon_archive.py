"""The daemon's raw archive, end to end: emulated sensors → daemon → Parquet → replay.

Three emulated sensors of three families (with packet loss and garbage) stream three simulated
minutes across midnight into the unmodified daemon, in virtual time, with ``[archive]`` on
(its default) and the embedded store:

* the archive holds exactly the samples the BLE links handed over, per location and value;
* midnight (in ``[alerts] timezone``) started the next day's file;
* replaying the archive folder gives the live run's postures (from its store) on ≥ 99 % of the
  seconds both have.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from posturewatch.analytics.records import Posture
from posturewatch.ingest.archive_reader import read_archive
from posturewatch.ingest.pose import summarize
from posturewatch.ingest.records import SensorBlock
from posturewatch.runtime.calibration_file import load_calibrations, write_calibration
from posturewatch.runtime.config import ConfigError, from_mapping
from posturewatch.runtime.daemon import daemon_session
from posturewatch.runtime.outputs import OutputsError
from posturewatch.runtime.replay import run_replay
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.devices.backend import EmulatedBackend, emulate_config
from posturewatch.simulators.devices.faults import FaultPlan
from posturewatch.simulators.devices.motion import WearerMotion
from posturewatch.simulators.devices.vtime import run_virtual
from posturewatch.simulators.wearer import simulate
from posturewatch.store.rollup import per_second
from posturewatch.store.sqlite import SqliteStore

USER = "archived"
SENSORS = [
    {"location": "thigh", "family": "witmotion", "address": "AA:00:00:00:00:11", "rate_hz": 50},
    {"location": "pelvis", "family": "movesense", "address": "AA:00:00:00:00:12", "rate_hz": 52},
    {"location": "thorax", "family": "pwrp", "address": "AA:00:00:00:00:13", "rate_hz": 50},
]
FAULTS = FaultPlan(drop_prob=0.02, garbage_prob=0.01)
MIDNIGHT = dt.datetime(2026, 1, 6, tzinfo=dt.UTC).timestamp()
# the seeded day walks from 1 s to 119 s, stands to 216 s, then sits: stream 90..270 s
START = MIDNIGHT - 180.0
STREAM = (START + 90.0, START + 270.0)


def _chunks(blocks: dict[str, SensorBlock], start: float, end: float, step: float = 10.0):
    for t0 in np.arange(start, end, step):
        yield {loc: b.slice(int(np.searchsorted(b.t, t0)), int(np.searchsorted(b.t, t0 + step)))
               for loc, b in blocks.items()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("daemon_archive")
    wearer = WearerConfig(hours=0.1, seed=3, rate=50.0, start=START).with_realism(
        clock=False, jitter=False, packet_loss=False, dropout=False)
    day = simulate(wearer)
    still = [b.slice(int(np.searchsorted(b.t, START + 150)), int(np.searchsorted(b.t, START + 160)))
             for b in day.blocks.values()]
    cal_path = tmp / "calibration.json"
    write_calibration(cal_path, USER, {}, {"neutral": summarize(still, 4.0)})
    config = from_mapping({"user": USER, "sensors": SENSORS, "store": {"dir": str(tmp / "state")}})
    calibrations, notes = load_calibrations(cal_path, config.pipeline.declared)
    assert set(calibrations) == {"pelvis", "thigh", "thorax"}, notes
    delivered: dict[str, list[SensorBlock]] = {}

    async def main(now):
        motion = WearerMotion(_chunks(day.blocks, *STREAM), start=STREAM[0])
        devices = emulate_config(config.ble, now, motion=motion,
                                 faults={s["location"]: FAULTS for s in SENSORS}, seed=3)
        session = daemon_session(config, EmulatedBackend(devices), calibrations=calibrations, now=now, seed=3)
        ble = session.source.ble
        handed_over = ble.on_blocks

        def tap(blocks):  # what the BLE links hand to the session, as they hand it
            for b in blocks:
                delivered.setdefault(b.location, []).append(b)
            return handed_over(blocks)

        ble.on_blocks = tap
        await session.run(duration_s=STREAM[1] - STREAM[0])
        return session

    session = run_virtual(main, epoch=STREAM[0])
    store = SqliteStore(tmp / "state" / "store.db")
    seconds = store.angles_between(USER, STREAM[0], STREAM[1] + 60)
    store.close()
    delivered_blocks = {loc: SensorBlock.concat(parts) for loc, parts in delivered.items()}
    return tmp, config, session, delivered_blocks, seconds, calibrations


def test_the_archive_holds_exactly_what_the_sensors_delivered(run):
    tmp, config, session, delivered, _, _ = run
    assert config.archive_dir == tmp / "state" / "archive"
    rec = read_archive(config.archive_dir)
    assert not rec.report.bad
    assert set(rec.blocks) == set(delivered) == {"thigh", "pelvis", "thorax"}
    for loc, want in delivered.items():
        got = rec.blocks[loc]
        print(f"{loc}: {len(got)} samples archived, {len(want)} delivered")
        assert len(got) == len(want) == session.archive.rows[loc]
        np.testing.assert_array_equal(got.t, want.t)
        np.testing.assert_array_equal(got.acc, want.acc.astype(np.float32))
        if want.gyr is not None:
            np.testing.assert_array_equal(got.gyr, want.gyr.astype(np.float32))
    assert sum(len(b) for b in delivered.values()) == session.source.ble.samples_out


def test_midnight_started_the_next_days_file(run):
    _, config, _, _, _, _ = run
    names = sorted(p.name for p in config.archive_dir.iterdir())
    assert names == ["2026-01-05.parquet", "2026-01-06.parquet"]
    before = read_archive(config.archive_dir / names[0]).blocks
    after = read_archive(config.archive_dir / names[1]).blocks
    for loc in before:
        assert before[loc].t[-1] < MIDNIGHT <= after[loc].t[0]


def test_replaying_the_archive_gives_the_live_postures(run):
    _, config, _, _, live, calibrations = run
    rec = read_archive(config.archive_dir)
    result = run_replay(rec.blocks, config, calibrations, align=False, read=rec.report)
    replayed = per_second(result.t, result.angles, result.posture)
    common, i_live, i_rep = np.intersect1d(live.t, replayed.t, return_indices=True)
    live_p, rep_p = live.posture[i_live], replayed.posture[i_rep]
    agreement = float(np.mean(live_p == rep_p))
    kinds = sorted({Posture(int(p)).label for p in live_p})
    print(f"{len(common)} seconds in both ({len(live.t)} live, {len(replayed.t)} replayed): "
          f"agreement {agreement:.4f}; postures {kinds}")
    assert len(common) >= 0.9 * (STREAM[1] - STREAM[0])
    assert {"walking", "standing", "sitting"} <= set(kinds)
    assert agreement >= 0.99


@pytest.mark.parametrize(("table", "message"), [
    ({"compression": "zip"}, "[archive] compression must be one of zstd"),
    ({"row_group_s": 0}, "[archive] row_group_s must be a positive"),
    ({"row_group": 60}, "[archive] unknown key 'row_group'"),
    ({"enabled": "yes"}, "[archive] enabled must be of type bool"),
    ({"dir": 5}, "[archive] dir must be of type str"),
])
def test_a_wrong_archive_table_is_refused_with_its_key(table, message):
    with pytest.raises(ConfigError) as err:
        from_mapping({"user": USER, "sensors": SENSORS[:1], "archive": table})
    assert message in str(err.value)


def test_the_archive_can_be_moved_or_switched_off(tmp_path):
    moved = from_mapping({"user": USER, "sensors": SENSORS[:1], "archive": {"dir": str(tmp_path / "raw")}})
    assert moved.archive_dir == tmp_path / "raw"
    off = from_mapping({"user": USER, "sensors": SENSORS[:1], "archive": {"enabled": False}})
    assert daemon_session(off, EmulatedBackend([])).archive is None


def test_an_archive_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    (tmp_path / "taken").write_text("a file where the folder should be")
    config = from_mapping({"user": USER, "sensors": SENSORS[:1], "store": {"dir": str(tmp_path / "state")},
                           "archive": {"dir": str(tmp_path / "taken")}})
    session = daemon_session(config, EmulatedBackend([]))

    async def main(now):
        await session.run(duration_s=5.0)

    with pytest.raises(OutputsError, match="archive folder .*taken cannot be written"):
        run_virtual(main)
    assert session.monitor is None  # refused before the source was even prepared
