"""Family registry, advertisement identification, counter unwrapping and block joining."""

from __future__ import annotations

import re

import numpy as np
import pytest

from posturewatch.ingest.protocols import (
    FAMILIES,
    identify,
    movella_dot,
    movesense,
    normalize_uuid,
    pwrp,
    witmotion,
)
from posturewatch.ingest.protocols.base import DecodedSamples, concat_samples
from posturewatch.ingest.protocols.counters import CounterUnwrapper, Step

UUID128 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_families_and_profiles():
    assert set(FAMILIES) == {"witmotion", "movesense", "movella_dot", "pwrp"}
    for name, cls in FAMILIES.items():
        prof = cls.profile
        assert prof.family == name and prof.nominal_rate_hz > 0 and prof.name_prefixes
        uuids = [*prof.service_uuids, *prof.notify_uuids]
        uuids += [w.char_uuid for w in prof.start_writes + prof.stop_writes]
        assert all(UUID128.match(u) for u in uuids), name


@pytest.mark.parametrize(
    ("name", "uuids", "family"),
    [
        ("WT901BLE68", [], "witmotion"),
        ("WT9011DCL-BT50", [], "witmotion"),
        (None, [witmotion.SERVICE_UUID.upper()], "witmotion"),
        ("Movesense 220330000122", [], "movesense"),
        (None, ["fdf3"], "movesense"),
        (None, [movesense.SERVICE_UUID], "movesense"),
        ("Xsens DOT", [], "movella_dot"),
        ("Movella DOT", [], "movella_dot"),
        (None, [movella_dot.MEASUREMENT_SERVICE_UUID], "movella_dot"),
        ("anything", [pwrp.SERVICE_UUID.upper()], "pwrp"),
        ("PWRP-thigh-01", [], "pwrp"),
        # a UUID outranks a misleading name
        ("WT901", [pwrp.SERVICE_UUID], "pwrp"),
        ("Headphones", ["180f", "0000180a-0000-1000-8000-00805f9b34fb"], None),
        (None, [], None),
        # the short form "ffe5" means the SIG base (…9b34fb), which is not WitMotion's (…9a34fb)
        (None, ["ffe5"], None),
    ],
)
def test_identify(name, uuids, family):
    assert identify(name, uuids) == family


def test_normalize_uuid():
    assert normalize_uuid("0x180F") == "0000180f-0000-1000-8000-00805f9b34fb"
    assert normalize_uuid(" 34802252-7185-4D5D-B431-630E7050E8F0") == movesense.SERVICE_UUID


def test_unwrap_counter_across_wraps():
    unwrap = CounterUnwrapper(16)
    raw = np.arange(60000, 60000 + 200000, 1000) % 65536
    values = [unwrap.unwrap(int(r))[0] for r in raw]
    assert values == list(range(60000, 60000 + 200000, 1000))


def test_unwrap_rejects_backwards_then_reanchors():
    unwrap = CounterUnwrapper(32)
    assert unwrap.unwrap(1000) == (1000, Step.FIRST)
    assert unwrap.unwrap(900) == (None, Step.BACKWARDS)
    assert unwrap.unwrap(2000) == (2000, Step.FORWARD)
    assert unwrap.unwrap(10) == (None, Step.BACKWARDS)
    assert unwrap.unwrap(20) == (None, Step.BACKWARDS)
    assert unwrap.unwrap(30) == (2000, Step.REANCHORED)
    assert unwrap.unwrap(40) == (2010, Step.FORWARD)
    unwrap.reset()
    assert unwrap.last_value is None and unwrap.unwrap(5) == (5, Step.FIRST)


def test_unwrap_max_forward_rejects_wild_values_but_believes_a_run():
    unwrap = CounterUnwrapper(32, max_forward=100)
    unwrap.unwrap(0)
    assert unwrap.unwrap(10_000) == (None, Step.JUMP)
    assert unwrap.unwrap(50) == (50, Step.FORWARD)
    assert unwrap.unwrap(10_000)[1] is Step.JUMP
    assert unwrap.unwrap(10_010)[1] is Step.JUMP
    assert unwrap.unwrap(10_020) == (10_020, Step.REANCHORED)


def test_concat_samples_keeps_only_fields_every_block_has():
    a = DecodedSamples(np.zeros((2, 3)), gyr=np.ones((2, 3)), device_time=np.array([0.0, 0.1]))
    b = DecodedSamples(np.ones((1, 3)), gyr=np.ones((1, 3)))
    joined = concat_samples([a, b])
    assert len(joined) == 3 and joined.gyr.shape == (3, 3) and joined.device_time is None
    assert concat_samples([]) is None
    assert concat_samples([a]) is a


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_decoder_survives_empty_and_one_byte_input(family):
    dec = FAMILIES[family]()
    for data in (b"", b"\x00", b"\xff", b"\x55"):
        dec.feed(data)
    dec.reset()
    assert dec.stats.samples == 0
