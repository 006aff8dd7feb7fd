"""PWRP: the worked example of docs/reference-protocol.md, round trips, fragments, loss, clock."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from posturewatch.ingest.protocols import pwrp

DOC = Path(__file__).resolve().parents[3] / "docs" / "reference-protocol.md"

EXAMPLE_INFO = "01 07 f4 00 00 00 48 42 00 00 00 3b 00 00 00 3a 00 00 80 3d 4e 44"
EXAMPLE_FRAME = (
    "17 02 b0 04 00 09 3d 00"
    "00 01 80 ff 9d 13 cd 00 9a ff 00 00 40 01 b0 ff 80 02"
    "ff 00 80 ff 9c 13 cd 00 9a ff 00 00 41 01 b0 ff 80 02"
    "f7 e8"
)
EXAMPLE_FRAGMENTS = [
    "17 02 b0 04 00 09 3d 00 00 01 80 ff 9d 13 cd 00 9a ff 00 00",
    "f1 40 01 b0 ff 80 02 ff 00 80 ff 9c 13 cd 00 9a ff 00 00 41",
    "f2 01 b0 ff 80 02 f7 e8",
]
EXAMPLE = pwrp.PwrpInfo(50.0, 2**-9, 2**-11, 2**-4, max_payload=244)


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def configured(info: pwrp.PwrpInfo = EXAMPLE) -> pwrp.PwrpDecoder:
    dec = pwrp.PwrpDecoder()
    assert dec.feed(pwrp.encode_info(info), pwrp.INFO_UUID) is None
    assert dec.info == info
    return dec


def frame(seq: int, t0_us: int, n: int = 2, mask: int = 7, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    parts = [rng.integers(-32768, 32768, (n, 3)) if mask & bit else None for bit in (1, 2, 4)]
    return pwrp.encode_frame(seq, t0_us, *parts)


def test_crc_check_value():
    assert pwrp.crc16(b"123456789") == 0x29B1


def test_worked_example_is_in_the_document_and_decodes_as_it_says():
    doc = re.sub(r"\s+", " ", DOC.read_text())
    for text in [EXAMPLE_INFO, *EXAMPLE_FRAGMENTS]:
        assert text in doc
    assert pwrp.encode_info(EXAMPLE) == hexbytes(EXAMPLE_INFO)
    assert pwrp.decode_info(hexbytes(EXAMPLE_INFO)) == EXAMPLE
    dec = configured()
    out = dec.feed(hexbytes(EXAMPLE_FRAME), pwrp.DATA_UUID)
    np.testing.assert_array_equal(out.acc, [[0.5, -0.25, 9.806640625], [0.498046875, -0.25, 9.8046875]])
    np.testing.assert_array_equal(out.gyr, [[0.10009765625, -0.0498046875, 0]] * 2)
    np.testing.assert_array_equal(out.mag, [[20, -5, 40], [20.0625, -5, 40]])
    np.testing.assert_array_equal(out.device_time, [4.0, 4.02])
    np.testing.assert_array_equal(out.seq, [1200, 1201])
    assert [f.hex(" ") for f in pwrp.fragment(hexbytes(EXAMPLE_FRAME), 20)] == EXAMPLE_FRAGMENTS
    # the encoder produces the example from the physical values
    acc = pwrp.quantize(out.acc, EXAMPLE.acc_scale)
    gyr = pwrp.quantize(out.gyr, EXAMPLE.gyr_scale)
    mag = pwrp.quantize(out.mag, EXAMPLE.mag_scale)
    assert pwrp.encode_frame(1200, 4_000_000, acc, gyr, mag) == hexbytes(EXAMPLE_FRAME)
    # and the loss example: next frame at seq 1210 → 8 samples lost
    dec.feed(pwrp.encode_frame(1210, 4_200_000, acc, gyr, mag))
    assert dec.lost_samples == 8


def test_fragments_reassemble_in_any_notification_size():
    whole = frame(7, 1000, n=9)
    for size in (20, 23, 50, len(whole)):
        dec = configured()
        outs = [dec.feed(p, pwrp.DATA_UUID) for p in pwrp.fragment(whole, size)]
        assert all(o is None for o in outs[:-1])
        assert len(outs[-1]) == 9 and dec.stats.bad_total == 0


def test_lost_or_reordered_continuation_discards_the_frame():
    parts = pwrp.fragment(frame(7, 1000, n=4), 20)
    assert len(parts) >= 3
    dec = configured()
    dec.feed(parts[0])
    assert dec.feed(parts[2]) is None  # continuation 1 lost: the frame and the stray part
    assert dec.stats.bad["truncated"] == 1 and dec.stats.bad["orphan_part"] == 1
    dec.feed(parts[0])
    dec.feed(parts[1])
    assert len(dec.feed(frame(11, 100_000))) == 2  # a new start discards the unfinished one
    assert dec.stats.bad["truncated"] == 2


def test_sequence_wraps_and_loss_is_counted():
    dec = configured()
    period = 20_000  # µs at 50 Hz
    seqs = [65530, 65532, 65534, 0, 10]  # frames of 2 samples; 2..9 are missing
    outs = [dec.feed(frame(s, 1_000_000 + (s - 65530) % 65536 * period, seed=s)) for s in seqs]
    unwrapped = np.concatenate([o.seq for o in outs])
    np.testing.assert_array_equal(unwrapped[:8], np.arange(65530, 65538))
    np.testing.assert_array_equal(unwrapped[8:], [65536 + 10, 65536 + 11])
    assert dec.lost_samples == 8


def test_long_gap_beyond_the_16_bit_range_is_resolved_with_the_clock():
    dec = configured()
    dec.feed(frame(100, 0))
    gap = 70_000  # samples, more than the 16-bit counter can tell
    out = dec.feed(frame((102 + gap) % 65536, (2 + gap) * 20_000))
    assert out.seq[0] == 102 + gap and dec.lost_samples == gap


def test_duplicate_frame_is_dropped():
    dec = configured()
    dec.feed(frame(10, 1_000_000))
    assert dec.feed(frame(10, 1_000_000)) is None
    assert dec.stats.bad["clock_backwards"] + dec.stats.bad["seq_backwards"] == 1


def test_device_clock_unwraps():
    dec = configured()
    a = dec.feed(frame(0, 2**32 - 20_000))
    b = dec.feed(frame(2, 2**32 + 20_000))
    assert b.device_time[0] - a.device_time[0] == pytest.approx(0.04)


@pytest.mark.parametrize(
    ("mutate", "kind"),
    [
        (lambda f: f[:-1] + bytes([f[-1] ^ 1]), "bad_checksum"),
        (lambda f: f + b"\x00", "bad_length"),
        (lambda f: bytes([0x27]) + f[1:], "unsupported_version"),
        (lambda f: bytes([0x01]) + f[1:], "unknown_type"),
        (lambda f: f[:1] + b"\x00" + f[2:], "bad_header"),
        (lambda f: f[:5], "truncated"),
        (lambda f: bytes([0xF1]) + f[:10], "orphan_part"),
    ],
)
def test_bad_frames_are_counted_by_kind(mutate, kind):
    dec = configured()
    assert dec.feed(mutate(frame(1, 1000)), pwrp.DATA_UUID) is None
    dec.feed(frame(3, 41_000), pwrp.DATA_UUID)  # flushes anything left unfinished
    assert dec.stats.bad[kind] == 1


def test_frames_need_a_matching_info():
    dec = pwrp.PwrpDecoder()
    assert dec.feed(frame(1, 1000)) is None
    assert dec.stats.bad["not_configured"] == 1
    dec.configure(pwrp.encode_info(pwrp.PwrpInfo(50.0, 0.001)))  # acc only
    assert dec.feed(frame(1, 1000, mask=7)) is None
    assert dec.stats.bad["config_mismatch"] == 1
    assert len(dec.feed(frame(2, 41_000, mask=1))) == 2


@pytest.mark.parametrize(
    "info",
    [
        pwrp.encode_info(EXAMPLE)[:-1],
        pwrp.encode_info(EXAMPLE)[:-1] + b"\x00",
        pwrp.encode_info(pwrp.PwrpInfo(0.0, 0.001)),
        pwrp.encode_info(pwrp.PwrpInfo(float("nan"), 0.001)),
        pwrp.encode_info(pwrp.PwrpInfo(50.0, 0.001, version=2)),
    ],
)
def test_bad_info_is_refused(info):
    dec = pwrp.PwrpDecoder()
    assert not dec.configure(info)
    assert dec.info is None and dec.stats.bad["bad_info"] == 1
    with pytest.raises(ValueError):
        pwrp.decode_info(info)


def test_control_point_writes_and_status():
    assert pwrp.start_write().data == b"\x01" and pwrp.stop_write().data == b"\x02"
    assert pwrp.set_rate_write(100.0).data.hex() == "030000c842"
    assert pwrp.set_time_write(1_700_000_000_000_000).data[0] == 4
    assert {w.char_uuid for w in (pwrp.start_write(), pwrp.set_rate_write(1))} == {pwrp.CONTROL_UUID}
    dec = configured()
    dec.feed(b"\x83\x03", pwrp.CONTROL_UUID)
    assert dec.last_status == (3, "not_allowed_now")
    dec.feed(b"\x81\x00")
    assert dec.last_status == (1, "ok")
    dec.feed(b"\x01", pwrp.CONTROL_UUID)
    assert dec.stats.bad["bad_status"] == 1


def test_samples_per_frame_fills_the_mtu():
    assert pwrp.samples_per_frame(7, 244) == 13  # 10 + 13 × 18 = 244
    assert pwrp.samples_per_frame(3, 20) == 1  # does not fit: one sample, fragmented
    assert pwrp.samples_per_frame(1, 20) == 1
    assert len(pwrp.encode_frame(0, 0, np.zeros((13, 3)), np.zeros((13, 3)), np.zeros((13, 3)))) == 244


@settings(max_examples=60, deadline=None)
@given(
    counts=arrays(np.int16, st.tuples(st.integers(1, 16), st.just(9))),  # 16 fit 20-byte MTU
    seq=st.integers(0, 65535),
    t0=st.integers(0, 2**32 - 1),
    mtu_payload=st.integers(20, 244),
)
def test_round_trip_is_exact(counts, seq, t0, mtu_payload):
    f32 = [float(np.float32(x)) for x in (0.0011971, 0.00053264, 0.15)]  # the wire holds f32
    info = pwrp.PwrpInfo(104.0, *f32)
    dec = configured(info)
    data = pwrp.encode_frame(seq, t0, counts[:, 0:3], counts[:, 3:6], counts[:, 6:9])
    outs = [dec.feed(p, pwrp.DATA_UUID) for p in pwrp.fragment(data, mtu_payload)]
    out = outs[-1]
    c = counts.astype(np.float64)
    np.testing.assert_array_equal(out.acc, c[:, 0:3] * info.acc_scale)
    np.testing.assert_array_equal(out.gyr, c[:, 3:6] * info.gyr_scale)
    np.testing.assert_array_equal(out.mag, c[:, 6:9] * info.mag_scale)
    np.testing.assert_array_equal(out.seq, seq + np.arange(len(counts)))
    np.testing.assert_allclose(out.device_time, t0 / 1e6 + np.arange(len(counts)) / 104.0)
    assert dec.stats.bad_total == 0


def test_encoder_rejects_bad_shapes():
    with pytest.raises(ValueError):
        pwrp.encode_frame(0, 0, np.zeros((0, 3)))
    with pytest.raises(ValueError):
        pwrp.encode_frame(0, 0, np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError):
        pwrp.fragment(b"\x11" * 400, 20)
