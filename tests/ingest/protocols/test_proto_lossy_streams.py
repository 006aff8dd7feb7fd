"""Decoders on lossy links: what a receiver sees when packets go missing or arrive cut short.

Movesense: packets missing between received ones make the spacing look like a halved rate; the
decoder must not follow that (it must follow a real rate change). WitMotion: a frame cut by a
lost notification and glued to a garbage notification that exactly fills it up passes every
framing rule, so its content decides: an implausible jump is rejected and counted.
"""

from __future__ import annotations

import struct

import numpy as np

from posturewatch.ingest.protocols import movesense as ms
from posturewatch.ingest.protocols import witmotion as wm
from posturewatch.ingest.protocols.base import Decoder
from posturewatch.ingest.records import GRAVITY


def ms_packet(ts_ms: int, n: int, rng: np.random.Generator) -> bytes:
    acc = (np.array([0.0, 0.0, 9.81]) + rng.normal(0, 0.05, (n, 3))).astype("<f4")
    gyr = rng.normal(0, 1.0, (n, 3)).astype("<f4")
    mag = rng.normal(0, 1.0, (n, 3)).astype("<f4")
    return (bytes((ms.RESP_DATA, ms.DEFAULT_REF)) + struct.pack("<I", ts_ms)
            + acc.tobytes() + gyr.tobytes() + mag.tobytes())


def test_missing_packets_between_received_ones_do_not_halve_the_rate():
    rng = np.random.default_rng(0)
    dec = ms.MovesenseDecoder("/Meas/IMU9/52")
    span_ms = 4000 / 52
    # every other packet lost for five packets in a row: spacing reads as 26 Hz each time
    sent = [k for k in range(40) if not (10 <= k < 20 and k % 2)]
    outs = [dec.feed(ms_packet(round(1000 + k * span_ms), 4, rng)) for k in sent] + [dec.flush()]
    assert dec.rate_hz == 52 and dec.rate_changes == 0
    times = np.concatenate([o.device_time for o in outs if o is not None])
    steps = np.diff(times)
    assert np.allclose(steps[steps < 0.03], 1 / 52, atol=1.1e-3)  # the clock counts whole ms
    assert np.allclose(steps[steps >= 0.03], 5 / 52, atol=1.1e-3)  # a lost packet: a gap of 4
    assert len(times) == 4 * len(sent)


def test_a_really_slower_stream_is_followed():
    rng = np.random.default_rng(1)
    dec = ms.MovesenseDecoder("/Meas/IMU9/52")
    span_ms = 4000 / 26  # the sensor streams 26 Hz although 52 was subscribed
    outs = [dec.feed(ms_packet(round(1000 + k * span_ms), 4, rng)) for k in range(14)]
    outs.append(dec.flush())
    assert dec.rate_hz == 26 and dec.rate_changes == 1
    np.testing.assert_allclose(np.diff(outs[-1].device_time), 1 / 26)


def test_decoders_hold_nothing_back_by_default():
    assert Decoder.flush(wm.WitMotionDecoder()) is None
    dec = ms.MovesenseDecoder()
    dec.feed(ms_packet(5000, 4, np.random.default_rng(2)))
    assert len(dec.flush()) == 4 and dec.flush() is None  # a held packet is data, once


def wit_frames(acc_ms2: np.ndarray, gyr_rads: np.ndarray) -> bytes:
    frames = np.zeros((len(acc_ms2), 20), np.uint8)
    frames[:, 0], frames[:, 1] = 0x55, 0x61
    body = np.concatenate([np.rint(acc_ms2 / wm.ACC_MS2_PER_COUNT), np.rint(gyr_rads / wm.GYR_RADS_PER_COUNT),
                           np.zeros((len(acc_ms2), 3))], axis=1).astype("<i2")
    frames[:, 2:] = body.view(np.uint8).reshape(-1, 18)
    return frames.tobytes()


def smooth_stream(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 50
    tilt = 0.3 * np.sin(t)
    acc = np.column_stack([GRAVITY * np.cos(tilt), 0.2 * np.sin(3 * t), GRAVITY * np.sin(tilt)])
    return wit_frames(acc + rng.normal(0, 0.05, acc.shape), rng.normal(0, 0.02, acc.shape))


def test_cut_frame_filled_up_by_garbage_is_rejected_as_an_implausible_jump():
    stream = smooth_stream(60, 0)
    dec = wm.WitMotionDecoder()
    good = [dec.feed(stream[i:i + 40]) for i in range(0, 800, 40)]  # 20 notifications, 40 frames
    rng = np.random.default_rng(3)
    for cut in (7, 13):
        junk = bytes(rng.integers(0x56, 0x100, 20 - cut, dtype=np.uint8))  # no header byte
        assert dec.feed(stream[800:800 + cut]) is None  # the rest of this notification was lost
        assert dec.feed(junk) is None  # glued: a whole "frame" of nonsense, then a header follows
    out = dec.feed(stream[820:860])
    assert dec.stats.bad["implausible_jump"] == 2
    assert len(out) == 2 and np.allclose(np.linalg.norm(out.acc, axis=1), GRAVITY, atol=0.5)
    assert sum(len(g) for g in good) == 40


def test_a_real_change_is_believed_after_a_few_frames():
    dec = wm.WitMotionDecoder()
    dec.feed(smooth_stream(30, 1))
    flipped = np.tile([0.0, 0.0, -GRAVITY], (6, 1))  # the sensor knocked over: a real 2 g step
    knocked = np.tile([60.0, 40.0, -GRAVITY], (1, 1))
    out = dec.feed(wit_frames(np.vstack([knocked, flipped]), np.zeros((7, 3))))
    assert dec.stats.bad["implausible_jump"] <= wm.JUMP_REJECTS_BEFORE_BELIEVING
    assert len(out) >= 7 - wm.JUMP_REJECTS_BEFORE_BELIEVING
    np.testing.assert_allclose(out.acc[-1], [0, 0, -GRAVITY], atol=0.01)
