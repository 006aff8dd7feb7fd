"""Clock mapping recovers offset, drift and rate under random BLE delays, and keeps gaps."""

from __future__ import annotations

import numpy as np
import pytest

from posturewatch.ingest.clock import ClockMapper, CountedClock, lower_envelope_line

HOST_START = 1_700_000_000.0


def _stream(rng, *, rate, per_packet, duration_s, drift_ppm, offset, min_latency, jitter_s):
    """Packets of a device whose clock runs ``drift_ppm`` fast: (device times, host truth, arrival)."""
    n = int(duration_s * rate) // per_packet * per_packet
    true_host = HOST_START + np.arange(n) / rate
    device = (true_host - HOST_START) * (1 + drift_ppm * 1e-6) + offset
    packets = []
    last_arrival = -np.inf
    for k in range(0, n, per_packet):
        sl = slice(k, k + per_packet)
        latency = min_latency + rng.exponential(jitter_s)
        arrival = max(true_host[k + per_packet - 1] + latency, last_arrival)
        last_arrival = arrival
        packets.append((device[sl], true_host[sl], arrival))
    return packets


@pytest.mark.parametrize("drift_ppm", [-80.0, 0.0, 45.0, 300.0])
def test_mapper_recovers_offset_and_drift_under_random_delays(drift_ppm):
    rng = np.random.default_rng(int(abs(drift_ppm)) + 7)
    min_latency = 0.012
    packets = _stream(rng, rate=60, per_packet=1, duration_s=900, drift_ppm=drift_ppm,
                      offset=4321.5, min_latency=min_latency, jitter_s=0.03)
    mapper = ClockMapper()
    errors = []
    for device, truth, arrival in packets:
        host = mapper.map(device, arrival)
        assert np.all(host <= arrival + 1e-9), "a sample cannot be placed after it arrived"
        errors.append(host - truth)
    err = np.concatenate(errors)
    settled = err[len(err) // 3:]
    # host = truth + minimum latency; the envelope tracks that within a few ms.
    assert np.abs(settled - min_latency).max() < 0.006
    # Device runs fast by drift_ppm → host/device slope is 1/(1+d) − 1 ≈ −d.
    assert mapper.drift_ppm == pytest.approx(-drift_ppm, abs=8.0)
    assert mapper.resets == 0
    # Raw arrival times are far worse than the mapping: the test would catch a no-op mapper.
    raw = np.array([a for _, _, a in packets]) - np.array([t[-1] for _, t, _ in packets])
    assert np.std(raw) > 5 * np.std(settled)


def test_mapper_handles_multi_sample_packets_and_stays_monotonic():
    rng = np.random.default_rng(3)
    packets = _stream(rng, rate=52, per_packet=4, duration_s=300, drift_ppm=-20,
                      offset=12.0, min_latency=0.008, jitter_s=0.05)
    mapper = ClockMapper()
    host = np.concatenate([mapper.map(d, a) for d, _, a in packets])
    truth = np.concatenate([t for _, t, _ in packets])
    assert np.all(np.diff(host) > 0)
    assert np.abs(host[len(host) // 2:] - truth[len(host) // 2:] - 0.008).max() < 0.008


def test_mapper_resets_when_device_reboots():
    mapper = ClockMapper()
    for k in range(600):
        mapper.map(np.array([1000.0 + k * 0.1]), HOST_START + k * 0.1 + 0.02)
    assert mapper.resets == 0
    # Reboot: device clock starts again near zero while host time keeps going.
    host = mapper.map(np.array([0.5]), HOST_START + 61.0)
    assert mapper.resets == 1
    assert host[0] == pytest.approx(HOST_START + 61.0, abs=1e-6)
    later = mapper.map(np.array([1.5]), HOST_START + 62.0)
    assert later[0] == pytest.approx(HOST_START + 62.0, abs=1e-6)


def test_device_time_gap_stays_a_gap():
    mapper = ClockMapper()
    for k in range(300):
        mapper.map(np.array([k * 0.01]), HOST_START + k * 0.01 + 0.01)
    after = mapper.map(np.array([4.0, 4.01]), HOST_START + 4.02)
    assert after[0] - (HOST_START + 2.99 + 0.01) == pytest.approx(1.01, abs=0.002)


def test_counted_clock_recovers_true_rate_and_even_spacing():
    rng = np.random.default_rng(11)
    true_rate = 98.7  # a "100 Hz" sensor whose oscillator is 1.3 % slow
    clock = CountedClock(100.0)
    packets = _stream(rng, rate=true_rate, per_packet=3, duration_s=120, drift_ppm=0,
                      offset=0, min_latency=0.01, jitter_s=0.02)
    host = np.concatenate([clock.map(3, a) for _, _, a in packets])
    truth = np.concatenate([t for _, t, _ in packets])
    assert clock.rate_hz == pytest.approx(true_rate, rel=2e-3)
    second_half = slice(len(host) // 2, None)
    assert np.abs(host[second_half] - truth[second_half] - 0.01).max() < 0.015
    assert clock.lost == 0


def test_counted_clock_marks_silences_and_persistent_loss_as_gaps():
    rng = np.random.default_rng(5)
    clock = CountedClock(50.0)
    packets = _stream(rng, rate=50, per_packet=2, duration_s=120, drift_ppm=0,
                      offset=0, min_latency=0.01, jitter_s=0.01)
    dropped = set(range(1600, 1610)) | {2200, 2500, 2501}  # a 0.4 s silence, then single drops
    kept = [p for i, p in enumerate(packets) if i not in dropped]
    host = np.concatenate([clock.map(2, a) for _, _, a in kept])
    truth = np.concatenate([t for _, t, _ in kept])
    assert clock.lost == 2 * len(dropped)
    # After the gaps the timeline is back on the truth, so nothing was squeezed out.
    assert np.abs(host[-500:] - truth[-500:] - 0.01).max() < 0.02


def test_counted_clock_with_sequence_numbers_keeps_seq_gaps():
    clock = CountedClock(100.0)
    t1 = clock.map(3, HOST_START + 0.03, seq=np.array([0, 1, 2]))
    t2 = clock.map(3, HOST_START + 0.09, seq=np.array([6, 7, 8]))
    assert t2[0] - t1[-1] == pytest.approx(0.04, abs=1e-6)


def test_lower_envelope_line_is_under_every_point():
    rng = np.random.default_rng(2)
    x = np.sort(rng.uniform(0, 100, 200))
    y = 0.5 + 1e-4 * x + rng.exponential(0.02, 200)
    a, b = lower_envelope_line(x, y)
    assert np.all(a + b * x <= y + 1e-12)
    assert b == pytest.approx(1e-4, abs=5e-5)
    assert a == pytest.approx(0.5, abs=0.005)
