"""The replay's spool gives back the decoded batches exactly, as often as asked, and leaves
nothing behind in its folder."""

import numpy as np

from posturewatch.ingest.records import SensorBlock
from posturewatch.ingest.spool import BlockSpool


def _batches():
    rng = np.random.default_rng(3)
    out = []
    for k in range(4):
        n = 50 + 7 * k
        t = 1.7e9 + k * 10 + np.arange(n) / 100.0
        out.append({
            "pelvis": SensorBlock("pelvis", t, rng.normal(size=(n, 3)).astype(np.float32),
                                  rng.normal(size=(n, 3)).astype(np.float32)),
            "thigh": SensorBlock("thigh", t[: n - 3], rng.normal(size=(n - 3, 3)),  # float64, no gyro
                                 None, rng.normal(size=(n - 3, 3)).astype(np.float32)),
        })
    return out


def test_batches_come_back_bit_for_bit_twice_and_the_folder_stays_clean(tmp_path):
    batches = _batches()
    spool = BlockSpool(tmp_path)
    for b in batches:
        spool.add(b)
    assert spool.bytes > 0
    for _ in range(2):
        back = list(spool.batches())
        assert len(back) == len(batches)
        for got, want in zip(back, batches, strict=True):
            assert list(got) == list(want)
            for loc in want:
                for name in ("t", "acc", "gyr", "mag"):
                    a, b = getattr(got[loc], name), getattr(want[loc], name)
                    assert (a is None) == (b is None), (loc, name)
                    if a is not None:
                        assert a.dtype == b.dtype and a.shape == b.shape
                        np.testing.assert_array_equal(a, b)
    assert list(tmp_path.iterdir()) == []  # an unnamed file: nothing to clean up after a crash
    spool.close()
    assert list(tmp_path.iterdir()) == []

