"""Recorded CSVs with bytes that are not UTF-8 (found by bench/fuzz.py): read, bad cells counted."""

from __future__ import annotations

import numpy as np
import pytest

from posturewatch.ingest.percsv import ColumnError, read_location_csv
from posturewatch.ingest.recording import RecordingError, read_recording


def _csv(columns: list[str], n: int = 200) -> list[bytes]:
    rows = [",".join(["timestamp", *columns]).encode()]
    rows += [f"{1767600000 + i / 50:.3f},{0.1:.3f},{0.2:.3f},{9.8:.3f}".encode() for i in range(n)]
    return rows


def test_recording_with_a_non_utf8_cell_keeps_the_other_rows(tmp_path):
    rows = _csv(["pelvis_ax", "pelvis_ay", "pelvis_az"])
    rows[50] = rows[50].replace(b"0.200", b"0.\xae\xff0")
    (tmp_path / "sensors.csv").write_bytes(b"\n".join(rows) + b"\n")
    rec = read_recording(tmp_path / "sensors.csv")
    block = rec.blocks["pelvis"]
    assert len(block) == 199 and rec.report.bad["non_numeric_cell"] == 1, rec.report
    assert np.isfinite(block.acc).all()


def test_location_csv_with_a_garbled_header_or_cell(tmp_path):
    rows = _csv(["x", "y", "z"])
    rows[10] = rows[10].replace(b"0.100", b"\xc3\x28")
    path = tmp_path / "thigh.csv"
    path.write_bytes(b"\n".join(rows) + b"\n")
    block, counts, _ = read_location_csv(path, "thigh")
    assert block is not None and len(block) == 199 and sum(counts.values()) >= 1
    rows[0] = b"timestamp,x,y,z\xff"  # Arrow reads the name as U+FFFD, like our header line
    path.write_bytes(b"\n".join(rows) + b"\n")
    try:
        block, _, _ = read_location_csv(path, "thigh")
    except ColumnError as exc:
        assert "z" in str(exc)
    else:
        assert block is not None and len(block) == 199


def test_a_quoted_header_is_one_clear_error(tmp_path):
    rows = _csv(["pelvis_ax", "pelvis_ay", "pelvis_az"])
    rows[0] = b'timestamp,"pelvis_ax,pelvis_ay",pelvis_az'
    (tmp_path / "sensors.csv").write_bytes(b"\n".join(rows) + b"\n")
    with pytest.raises(RecordingError):
        read_recording(tmp_path / "sensors.csv")


def test_the_replacing_stream_passes_valid_text_and_mends_split_characters(tmp_path):
    from posturewatch.ingest.csvtext import Utf8Replacing

    text = "t,µ,ü\n1,2,3\n".encode() + b"\xff\n" + "é".encode()
    (tmp_path / "f").write_bytes(text)
    for chunk in (1, 2, 3, 64):
        stream = Utf8Replacing(tmp_path / "f", chunk=chunk)
        out = b""
        while block := stream.read(5):
            out += block
        stream.close()
        assert out.decode("utf-8") == "t,µ,ü\n1,2,3\n\ufffd\né", chunk
