"""bench/fuzz.py --quick: a few thousand mutated inputs through every input path, zero crashes.

The full run (≥ 10⁶ inputs) is a bench script; this checks that every target still takes its
valid seeds' mutations without a traceback and counts each rejection (no timing asserted).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz.py"


def test_quick_fuzz_finds_no_crash_and_counts_rejections():
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--seed", "7"],
                          capture_output=True, text=True, timeout=900)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {m["name"].strip(): m for m in re.finditer(
        r"^(?P<name>\S.{0,21}?)\s+(?P<inputs>\d+)\s+(?P<taken>\d+)\s+(?P<rejected>\d+)\s+"
        r"(?P<crashes>\d+)", proc.stdout, re.M)}
    names = {"decoder witmotion", "decoder movesense", "decoder pwrp", "decoder movella_dot",
             "recording reader", "per-location csv", "device files", "mqtt commands", "sink input",
             "config loader"}
    assert names <= set(rows), sorted(rows)
    total = rows["total"]
    assert int(total["inputs"]) >= 4000 and int(total["crashes"]) == 0
    for name in names:
        row = rows[name]
        assert int(row["taken"]) + int(row["rejected"]) == int(row["inputs"]), name
        assert int(row["rejected"]) > 0, f"{name}: mutated input must be rejected sometimes"
