"""The fuzz targets of bench/fuzz.py: every place bytes or settings from outside come in.

Each target has valid seeds (made by our own encoders and writers, so mutations reach the deep
paths) and a ``run(data) -> str | None``: None when the input was taken whole, or the reason it
was (partly) rejected; a documented rejection is an exception of the target's own error type
or a counter the target keeps. Anything else that escapes is a crash.
"""

from __future__ import annotations

import atexit
import copy
import json
import math
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posturewatch.alerts.mqtt.commands import CommandService
from posturewatch.alerts.mqtt.payloads import COMMANDS
from posturewatch.alerts.policy import AlertPolicy
from posturewatch.ingest.devicefiles import DeviceFileError, read_device_file
from posturewatch.ingest.percsv import ColumnError, read_location_csv
from posturewatch.ingest.protocols import drivers
from posturewatch.ingest.recording import RecordingError, read_recording
from posturewatch.runtime.config import ConfigError, from_mapping
from posturewatch.simulators.devices.backend import DEVICE_CLASSES
from posturewatch.store.from_mqtt import BadPayload, lines_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ingest"))


@dataclass
class Target:
    name: str
    weight: float  # share of the inputs
    seeds: list
    run: Callable[[object], str | None]
    mutate: Callable[[object, list, random.Random], object] | None = None  # default: bytes


def _motion(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    acc = rng.normal(0, 2, (n, 3)) + [0, 0, 9.81]
    return acc, rng.normal(0, 0.5, (n, 3)), rng.normal(0, 20, (n, 3))


# ---- BLE decoders ------------------------------------------------------------------------------

def decoder_target(family: str) -> Target:
    driver = drivers()[family]
    device = DEVICE_CLASSES[family]("AA:00:00:00:00:09", now=lambda: 1767600000.0)
    if family == "movella_dot":
        from posturewatch.simulators.devices.movella_dot import MODES

        device.mode = next(iter(MODES))  # what the start write would choose
    rng = np.random.default_rng(1)
    seeds: list[bytes] = []
    uuids: list[str | None] = [None, *driver.notify_uuids(driver.new_decoder()), *driver.config_reads()]
    for i in range(20):
        n = device.samples_per_packet()
        t = (i * n + np.arange(n)) / 50.0
        for uuid, data in device.encode(t, i * n, *_motion(n, rng)):
            seeds.append(bytes(data))
            uuids.append(uuid)
    state = {"decoder": driver.new_decoder(), "fed": 0}
    uuid_cycle = [u for u in dict.fromkeys(uuids)]

    def run(data: bytes) -> str | None:
        if state["fed"] % 2000 == 0:  # a fresh link now and then; state carries in between
            state["decoder"] = driver.new_decoder()
        state["fed"] += 1
        dec = state["decoder"]
        bad_before = dec.stats.bad_total
        out = dec.feed(data, uuid_cycle[state["fed"] % len(uuid_cycle)])
        if out is not None:
            n = len(out)
            if not (n > 0 and out.acc.shape == (n, 3)):
                raise AssertionError(f"decoder returned a malformed block of {n} samples")
        if dec.stats.bad_total > bad_before:
            return max(dec.stats.bad, key=dec.stats.bad.get)
        return None

    return Target(f"decoder {family}", 1.0, seeds, run)


# ---- files -------------------------------------------------------------------------------------

_TMP = Path(tempfile.mkdtemp(prefix="posturewatch-fuzz-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


def _csv_seed(columns: list[str], n: int, t0: float = 1767600000.0) -> bytes:
    rng = np.random.default_rng(2)
    rows = [",".join(["timestamp", *columns])]
    values = rng.normal(0, 3, (n, len(columns)))
    for i in range(n):
        rows.append(",".join([f"{t0 + i / 50:.3f}", *(f"{v:.4f}" for v in values[i])]))
    return ("\n".join(rows) + "\n").encode()


def recording_target() -> Target:
    cols = [f"{loc}_{k}{a}" for loc in ("pelvis", "thigh", "thorax") for k in "ag" for a in "xyz"]
    path = _TMP / "sensors.csv"

    def run(data: bytes) -> str | None:
        path.write_bytes(data)
        try:
            rec = read_recording(path)
        except RecordingError as exc:
            return "RecordingError: " + str(exc).split(": ", 1)[-1][:40]
        bad = [k for k, v in rec.report.bad.items() if v]
        return "counted " + min(bad) if bad else None

    return Target("recording reader", 0.02, [_csv_seed(cols, 40)], run)


def location_csv_target() -> Target:
    path = _TMP / "thigh.csv"
    seeds = [_csv_seed(["x", "y", "z", "gx", "gy", "gz"], 40), _csv_seed(["acc_x [g]", "acc_y [g]",
                                                                          "acc_z [g]"], 30)]

    def run(data: bytes) -> str | None:
        path.write_bytes(data)
        try:
            _, counts, _ = read_location_csv(path, "thigh")
        except ColumnError:
            return "ColumnError"
        bad = [k for k, v in counts.items() if v]
        return "counted " + min(bad) if bad else None

    return Target("per-location csv", 0.02, seeds, run)


def device_file_target() -> Target:
    from devicefile_writers import write_cwa, write_geneactiv, write_gt3x

    acc = np.tile([0.0, 0.0, 1.0], (300, 1))
    seeds = []
    for suffix, write in ((".cwa", lambda p: write_cwa(p, 1767600000.0, 100.0, acc)),
                          (".gt3x", lambda p: write_gt3x(p, 1767600000.0, 30, acc)),
                          (".bin", lambda p: write_geneactiv(p, 1767600000.0, 100, acc))):
        p = _TMP / f"seed{suffix}"
        write(p)
        seeds.append((suffix, p.read_bytes()))

    def run(item) -> str | None:
        suffix, data = item
        path = _TMP / f"device{suffix}"
        path.write_bytes(data)
        try:
            read = read_device_file(path, "thigh")
        except DeviceFileError:
            return "DeviceFileError"
        bad = [k for k, v in read.counts.items() if v]
        return "counted " + min(bad) if bad else None

    def mutate(seed, pool, rng):
        suffix, data = seed
        return suffix, mutate_bytes(data, [d for _, d in pool], rng, max_len=1 << 16)

    return Target("device files", 0.003, seeds, run, mutate)


# ---- MQTT payloads -----------------------------------------------------------------------------

def commands_target() -> Target:
    service = CommandService(AlertPolicy(), clock=lambda: 1767600000.0,
                             calibrate=lambda body: {"locations": []})
    seeds = [(c, json.dumps(b).encode()) for c, b in (
        ("snooze", {"minutes": 30}), ("snooze", {"until": "tomorrow", "kinds": ["forward_head"]}),
        ("snooze", {"clear": True}), ("settings", {"alerts": {"daily_cap": 5}}),
        ("calibrate", {"id": "x1"}), ("status", {}))]

    def run(item) -> str | None:
        command, raw = item
        reply = service.handle(command, raw)
        if not isinstance(reply, dict) or "ok" not in reply:
            raise AssertionError(f"no reply payload: {reply!r}")
        return None if reply["ok"] else str(reply.get("error", "?")).split(":")[0][:40]

    def mutate(seed, pool, rng):
        command, raw = seed
        if rng.random() < 0.05:
            command = rng.choice([*COMMANDS, "", "snooze/../x", "SNOOZE"])
        return command, mutate_json(raw, [r for _, r in pool], rng)

    return Target("mqtt commands", 0.1, seeds, run, mutate)


def sink_target() -> Target:
    from posturewatch.alerts.mqtt.payloads import (
        alert_payload,
        angles_payload,
        encode,
        episode_payload,
        status_payload,
    )
    from posturewatch.alerts.records import Alert
    from posturewatch.analytics.records import Episode, EpisodeEvent

    t = 1767600000.0
    episode = Episode("posterior_tilt", t - 90, t - 30, t - 1, -20.0, -17.0)
    alert = Alert(f"{episode.id}-a0", episode.kind, "t", "m", "warning", t - 30, episode.id, t - 90)
    seeds = [
        ("angles", encode(angles_payload(t, "sitting", {"pelvic_tilt": -3.5, "trunk_inclination": 2.0}))),
        ("episodes", encode(episode_payload(EpisodeEvent("end", episode, t)))),
        ("alerts", encode(alert_payload(alert))),
        ("status", encode(status_payload(t, True, {"pelvis": {"connected": True, "battery_pct": 80.0}}))),
    ]

    def run(item) -> str | None:
        kind, raw = item
        try:
            lines, _, _ = lines_for("wearer", kind, raw)
        except BadPayload as exc:
            return exc.reason
        if any(not isinstance(line, str) or "\n" in line for line in lines):
            raise AssertionError("a line protocol line with a newline or not text")
        return None

    def mutate(seed, pool, rng):
        kind, raw = seed
        return kind, mutate_json(raw, [r for _, r in pool], rng)

    return Target("sink input", 0.1, seeds, run, mutate)


# ---- config ------------------------------------------------------------------------------------

CONFIG_SEED = {
    "user": "ann", "episodes": {"sitting_limit_s": 1800.0, "tilt_enter": -15.0},
    "alerts": {"daily_cap": 12, "quiet_hours": {"start": "22:00", "end": "07:00"},
               "posterior_tilt": {"cooldown_s": 900.0}},
    "sensors": [{"location": "pelvis", "family": "movesense", "address": "AA:00:00:00:00:02"}],
    "mqtt": {"host": "127.0.0.1", "port": 1883}, "store": {"dir": "/tmp/x", "synchronous": "NORMAL"},
    "posture": {}, "mounting": {},
}
ODD_VALUES = [None, True, 0, -1, 1e308, math.inf, math.nan, "", "x" * 300, [], {}, [1, "a"],
              {"a": {"b": 1}}, "07:00", "25:61", -0.0, 2**63, "../..", "\x00"]


def config_target() -> Target:
    def run(mapping) -> str | None:
        try:
            from_mapping(mapping)
        except ConfigError as exc:
            return str(exc).split(":")[0][:40]
        return None

    def mutate(seed, pool, rng):
        return mutate_tree(json.loads(json.dumps(seed)), rng)

    return Target("config loader", 0.1, [CONFIG_SEED], run, mutate)


# ---- mutators ----------------------------------------------------------------------------------

def mutate_bytes(data: bytes, pool: list[bytes], rng: random.Random, max_len: int = 4096) -> bytes:
    """One to four edits: bit flips, odd bytes, cuts, inserts, repeats, splices; or pure noise."""
    if rng.random() < 0.05:
        return rng.randbytes(rng.randrange(0, 64))
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        i = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(i, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[min(i, len(b) - 1)] = rng.choice((0, 0xFF, 0x7F, 0x80, 0x55, 0x0A, 0x2C, rng.randrange(256)))
        elif op == 2:
            del b[i:i + rng.randrange(1, 32)]
        elif op == 3:
            b[i:i] = rng.randbytes(rng.randrange(1, 16))
        elif op == 4 and b:
            j = rng.randrange(len(b))
            b[i:i] = b[j:j + rng.randrange(1, 64)] * rng.randint(1, 4)
        elif op == 5:
            other = rng.choice(pool)
            b = b[:i] + other[rng.randrange(len(other) + 1):]
        else:
            b = b[:i]
    return bytes(b[:max_len])


def mutate_json(raw: bytes, pool: list[bytes], rng: random.Random) -> bytes:
    if rng.random() < 0.4:
        return mutate_bytes(raw, pool, rng)
    try:
        tree = json.loads(raw)
    except ValueError:
        return mutate_bytes(raw, pool, rng)
    return json.dumps(mutate_tree(tree, rng)).encode()  # NaN/Infinity tokens on purpose


def mutate_tree(tree, rng: random.Random):
    """Replace, drop or add one to three values anywhere in a JSON-like tree."""
    for _ in range(rng.randint(1, 3)):
        node, path = tree, []
        while isinstance(node, dict | list) and node and rng.random() < 0.7:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            path.append((node, key))
            node = node[key]
        if not path:
            if isinstance(tree, dict):
                key = rng.choice(["extra", "user", "alerts", "sensors"])
                tree[key] = copy.deepcopy(rng.choice(ODD_VALUES))
            else:
                tree = copy.deepcopy(rng.choice(ODD_VALUES))
            continue
        parent, key = path[-1]
        r = rng.random()
        if r < 0.6:
            parent[key] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif r < 0.8:
            del parent[key]
        elif isinstance(parent, dict):
            parent[rng.choice(["x", "kind", "minutes", key + "_"]) if isinstance(key, str) else "x"] = (
                copy.deepcopy(rng.choice(ODD_VALUES)))
    return tree


def all_targets() -> list[Target]:
    return [*(decoder_target(f) for f in sorted(drivers())), recording_target(), location_csv_target(),
            device_file_target(), commands_target(), sink_target(), config_target()]
