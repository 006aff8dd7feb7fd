"""The emulators' motion sources: empty wearer blocks are skipped, sway is the same in every process."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from posturewatch.ingest.records import SensorBlock
from posturewatch.simulators.devices.motion import SwayMotion, WearerMotion


def _block(location: str, t: np.ndarray, value: float) -> SensorBlock:
    n = len(t)
    return SensorBlock(location, t, np.full((n, 3), value), np.zeros((n, 3)), np.zeros((n, 3)))


def test_wearer_motion_skips_blocks_of_a_sensor_that_lost_the_window():
    empty = np.empty(0)
    blocks = [
        {"pelvis": _block("pelvis", empty, 0.0), "thigh": _block("thigh", np.arange(0.0, 1.0, 0.1), 1.0)},
        {"pelvis": _block("pelvis", np.arange(1.0, 2.0, 0.1), 2.0),
         "thigh": _block("thigh", np.arange(1.0, 2.0, 0.1), 3.0)},
        {"pelvis": _block("pelvis", empty, 0.0), "thigh": _block("thigh", empty, 0.0)},
    ]
    motion = WearerMotion(blocks, start=100.0)
    acc, _, _ = motion.sample("pelvis", np.array([101.5, 101.6]))
    # the wearer's origin is the first non-empty block (thigh at 0.0), so pelvis 1.5 lands at 101.5
    np.testing.assert_allclose(acc, 2.0)
    acc, _, _ = motion.sample("thigh", np.array([100.5, 102.5]))
    np.testing.assert_allclose(acc[:, 0], [1.0, 3.0])


_PHASE_PROBE = (
    "import numpy as np\n"
    "from posturewatch.simulators.devices.motion import SwayMotion\n"
    "acc, _, _ = SwayMotion(noise=0.0).sample('thorax', np.array([0.0, 1.3]))\n"
    "print(repr(acc.tolist()))\n"
)


def test_sway_phase_does_not_depend_on_the_hash_seed():
    outputs = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _PHASE_PROBE], env=env, capture_output=True,
                              text=True, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1
    here, _, _ = SwayMotion(noise=0.0).sample("thorax", np.array([0.0, 1.3]))
    assert repr(here.tolist()) + "\n" in outputs
