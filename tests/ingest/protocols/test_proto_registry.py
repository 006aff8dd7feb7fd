"""The family registry and its precedence, every driver against the interface, advertisement
identification, counter unwrapping and block joining."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

from posturewatch.ingest.protocols import (
    BATTERY_LEVEL_UUID,
    PRECEDENCE,
    Claim,
    Decoder,
    DeviceDriver,
    driver,
    drivers,
    family_names,
    identify,
    movella_dot,
    movesense,
    normalize_uuid,
    pwrp,
    witmotion,
)
from posturewatch.ingest.protocols.base import DecodedSamples, GattWrite, concat_samples
from posturewatch.ingest.protocols.counters import CounterUnwrapper, Step

UUID128 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ABSTRACT = sorted(DeviceDriver.__abstractmethods__)


def test_one_registry_in_documented_order():
    assert family_names() == ("pwrp", "movesense", "movella_dot", "witmotion")
    assert tuple(drivers().values()) == PRECEDENCE
    assert all(driver(name).family == name for name in family_names())
    with pytest.raises(KeyError, match="unknown device family 'fitbit'; supported"):
        driver("fitbit")


@pytest.mark.parametrize("family", family_names())
def test_driver_implements_the_whole_interface(family):
    drv = driver(family)
    cls = type(drv)
    assert isinstance(drv, DeviceDriver) and not inspect.isabstract(cls)
    # every abstract method is the family's own, not inherited from somewhere else
    assert all(name in cls.__dict__ for name in ABSTRACT), family
    assert drv.advertised.name_prefixes and drv.advertised.service_uuids
    assert drv.nominal_rate_hz > 0
    if drv.rates_hz is not None:
        assert drv.nominal_rate_hz in drv.rates_hz and list(drv.rates_hz) == sorted(drv.rates_hz)
    decoder = drv.new_decoder()
    assert isinstance(decoder, Decoder)
    for rate in (None, *(drv.rates_hz or (25.0,))):
        assert all(isinstance(w, GattWrite) for w in drv.rate_writes(rate))
        drv.new_decoder(rate)  # every commandable rate gives a decoder
    writes = [*drv.start_writes(decoder), *drv.stop_writes(decoder), *drv.rate_writes(None),
              *drv.battery.poll_writes]
    uuids = [*drv.advertised.service_uuids, *drv.notify_uuids(decoder), *drv.config_reads(),
             *drv.battery.chars, *(w.char_uuid for w in writes)]
    assert drv.notify_uuids(decoder) and drv.start_writes(decoder)
    assert all(UUID128.match(u) for u in uuids), family
    # the battery comes from a characteristic or from the stream, never from nowhere
    assert drv.battery.chars or drv.battery.poll_writes
    assert drv.battery_from_decoder(decoder) is None  # nothing heard yet


@pytest.mark.parametrize("family", family_names())
def test_rates_outside_the_family_are_refused_with_the_choices(family):
    drv = driver(family)
    drv.check_rate(drv.nominal_rate_hz)
    assert drv.rate_hz(None) == drv.nominal_rate_hz
    if drv.rates_hz is None:
        drv.check_rate(37.5)  # the device picks its nearest rate itself
        return
    with pytest.raises(ValueError, match=f"{family} has no 37.5 Hz rate; choose one of"):
        drv.check_rate(37.5)


def test_start_writes_follow_the_decoder_and_rate():
    ms = driver("movesense")
    dec = ms.new_decoder(104)
    assert dec.path == "/Meas/IMU9/104" and ms.rate_writes(104) == ()
    assert {w.data for w in ms.start_writes(dec)} == {b"\x01\x63/Meas/IMU9/104"}
    dot = driver("movella_dot")
    long_mode = movella_dot.MovellaDotDecoder(26)
    assert dot.notify_uuids(long_mode) == (movella_dot.LONG_PAYLOAD_UUID,)
    assert dot.start_writes(long_mode) == (movella_dot.start_write(26),)
    assert dot.rate_writes(30) == (movella_dot.output_rate_write(30),)
    wit = driver("witmotion")
    # the sensor boots at 10 Hz: even without a configured rate the nominal one is set
    assert wit.rate_writes(None) == witmotion.rate_command_sequence(50.0)
    assert wit.rate_writes(100) == witmotion.rate_command_sequence(100.0)
    assert driver("pwrp").rate_writes(None) == ()
    assert driver("pwrp").rate_writes(52) == (pwrp.set_rate_write(52),)


def test_battery_values():
    for drv in PRECEDENCE:
        assert drv.battery_percent(BATTERY_LEVEL_UUID, bytes([83])) == 83.0
        assert drv.battery_percent(BATTERY_LEVEL_UUID, b"") is None
        assert drv.battery_percent(BATTERY_LEVEL_UUID, bytes([101])) is None
    dot = driver("movella_dot")
    assert dot.battery_percent(movella_dot.BATTERY_UUID, bytes([64, 1])) == 64.0
    dec = dot.new_decoder()
    dec.feed(bytes([71, 0]), movella_dot.BATTERY_UUID)
    assert dot.battery_from_decoder(dec) == 71.0
    wit = driver("witmotion")
    dec = wit.new_decoder()
    dec.feed(bytes((0x55, 0x71, witmotion.REG_BATTERY, 0)) + (388).to_bytes(2, "little") + bytes(14))
    assert wit.battery_from_decoder(dec) == 75.0  # the vendor's step table: ≥ 3.87 V is 75 %


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
        ("Headphones", ["180f", "0000180a-0000-1000-8000-00805f9b34fb"], None),
        (None, [], None),
        ("wt901", [], None),  # names are matched as advertised, case and all
        # the short form "ffe5" means the SIG base (…9b34fb), which is not WitMotion's (…9a34fb)
        (None, ["ffe5"], None),
    ],
)
def test_identify(name, uuids, family):
    found = identify(name, uuids)
    assert (found and found.family) == family


@pytest.mark.parametrize(
    ("name", "uuids", "family", "why"),
    [
        # a service UUID outranks a name that another family could claim
        ("WT901-clone", [pwrp.SERVICE_UUID], "pwrp", "uuid beats name"),
        ("Movesense 1234", [movella_dot.CONFIG_SERVICE_UUID], "movella_dot", "uuid beats name"),
        ("PWRP-thigh", ["fdf3"], "movesense", "uuid beats name"),
        # two service UUIDs: the family earlier in the precedence order
        (None, [witmotion.SERVICE_UUID, pwrp.SERVICE_UUID], "pwrp", "order"),
        (None, [movella_dot.MEASUREMENT_SERVICE_UUID, movesense.SERVICE_UUID], "movesense", "order"),
        ("Xsens DOT", [witmotion.SERVICE_UUID, movella_dot.CONFIG_SERVICE_UUID], "movella_dot",
         "order"),
    ],
)
def test_identify_precedence_when_two_families_could_claim(name, uuids, family, why):
    claims = {d.family: d.claim(name, uuids) for d in PRECEDENCE}
    assert sum(c is not None for c in claims.values()) >= 2, "the case must be ambiguous"
    assert identify(name, uuids).family == family, why
    assert claims[family] == max(c for c in claims.values() if c is not None)
    if why == "uuid beats name":
        assert claims[family] is Claim.SERVICE and Claim.NAME in claims.values()


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


@pytest.mark.parametrize("family", family_names())
def test_every_decoder_survives_empty_and_one_byte_input(family):
    dec = driver(family).new_decoder()
    for data in (b"", b"\x00", b"\xff", b"\x55"):
        dec.feed(data)
    dec.reset()
    assert dec.stats.samples == 0
