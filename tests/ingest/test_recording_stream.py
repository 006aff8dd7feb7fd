"""The streaming reader gives the same samples and counts as reading the file whole."""

from __future__ import annotations

import numpy as np
import pytest

from posturewatch.ingest import recording_stream
from posturewatch.ingest.recording import read_recording
from posturewatch.ingest.recording_stream import RecordingStream, TextCellsFound
from posturewatch.ingest.records import SensorBlock
from posturewatch.simulators.config import WearerConfig
from posturewatch.simulators.recording import SensorCsvWriter
from posturewatch.simulators.wearer import simulate


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "rec.csv"
    day = simulate(WearerConfig(hours=0.1, seed=4, rate=50))
    locs = day.config.sensor_locations
    writer = SensorCsvWriter(path, locs, dict.fromkeys(locs, True), False)
    writer.add(day.blocks)
    writer.close()
    lines = path.read_text().splitlines(keepends=True)
    values = lines[1].split(",", 1)[1]
    lines.insert(3000, f"0.5,{values}")  # 1970
    lines.insert(9000, f"{float(lines[9000].split(',')[0]) + 900:.3f},{values}")  # a lone jump
    path.write_text("".join(lines))
    return path


def _joined(stream: RecordingStream) -> dict[str, SensorBlock]:
    parts: dict[str, list[SensorBlock]] = {}
    for batch in stream.batches():
        for loc, b in batch.items():
            parts.setdefault(loc, []).append(b)
    return {loc: SensorBlock.concat(p) for loc, p in parts.items()}


def test_batches_equal_the_whole_file(recording, monkeypatch):
    monkeypatch.setattr(recording_stream, "STREAM_BLOCK_BYTES", 64 << 10)  # many small batches
    whole = read_recording(recording)
    stream = RecordingStream(recording)
    got = _joined(stream)
    assert sorted(got) == sorted(whole.blocks)
    for loc, b in whole.blocks.items():
        np.testing.assert_array_equal(got[loc].t, b.t)
        np.testing.assert_allclose(got[loc].acc, b.acc, rtol=1e-6)
        np.testing.assert_allclose(got[loc].gyr, b.gyr, rtol=1e-6)
    assert stream.report.rows == whole.report.rows
    assert stream.report.bad["implausible_timestamp"] == whole.report.bad["implausible_timestamp"] == 1
    assert stream.report.bad["timestamp_jump"] == whole.report.bad["timestamp_jump"] == 1
    assert dict(stream.report.samples) == dict(whole.report.samples)


def test_text_in_a_number_cell_restarts_the_pass_as_text(recording, tmp_path):
    lines = recording.read_text().splitlines(keepends=True)
    cells = lines[5000].split(",")
    cells[2] = "garbled"
    lines[5000] = ",".join(cells)
    path = tmp_path / "garbled.csv"
    path.write_text("".join(lines))
    stream = RecordingStream(path)
    with pytest.raises(TextCellsFound):
        _joined(stream)
    got = _joined(stream)  # the second pass reads cell by cell from the start
    assert stream.report.bad["non_numeric_cell"] == 1
    whole = read_recording(path)
    for loc, b in whole.blocks.items():
        np.testing.assert_array_equal(got[loc].t, b.t)
