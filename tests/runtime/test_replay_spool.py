"""The replay's second pass reads the first pass's spool; without room for one it reads the file
again and gets the same results."""

import asyncio
import dataclasses

import numpy as np

from posturewatch.ingest.recording_stream import RecordingStream
from posturewatch.runtime.config import Config
from posturewatch.runtime.replay import FileSource, ResultCollector
from posturewatch.runtime.session import Session
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.recording import record


def test_a_replay_without_room_for_its_spool_reads_the_file_again(tmp_path, caplog):
    record(WearerConfig(hours=0.1, seed=2), tmp_path / "sim")
    config = Config()
    config = dataclasses.replace(config, pipeline=config.pipeline.offline())
    results = []
    for spool_dir in (tmp_path, tmp_path / "missing"):  # the second cannot hold a spool
        source = FileSource(RecordingStream(tmp_path / "sim" / "sensors.csv"), spool_dir=spool_dir)
        out = ResultCollector()
        session = Session(config, source, out)
        asyncio.run(session.run())
        results.append(out.result(session, None))
    assert "read a second time" in caplog.text
    spooled, again = results
    assert len(spooled.t) > 300
    np.testing.assert_array_equal(spooled.t, again.t)
    np.testing.assert_array_equal(spooled.posture, again.posture)
    for name, values in spooled.angles.items():
        np.testing.assert_array_equal(values, again.angles[name])
