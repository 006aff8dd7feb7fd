"""The cohort's progress lines: n of the total, failures by name, and an ETA from the pace of the
recordings that finished (a failure in no time does not make the rest look quick)."""

from __future__ import annotations

from posturewatch.cohort.progress import CohortProgress, duration


def test_counts_and_eta_follow_the_finished_recordings():
    p = CohortProgress(10, started=100.0)
    assert p.eta(now=130.0) is None  # nothing finished: no pace yet
    assert p.status(["P01", "P02"], now=130.0) == "cohort: 0/10 done, elapsed 30s | running P01, P02"
    p.record("P01", ok=True)
    p.record("P02", ok=True)
    p.record("BROKEN", ok=False)
    # 2 finished in 60 s: 30 s each, 7 left -> 210 s (the failure counts as finished, not as pace)
    assert p.eta(now=160.0) == 210.0
    line = p.finished_line("BROKEN", "FAILED: no sensor columns", now=160.0)
    assert line == ("cohort: [3/10] BROKEN FAILED: no sensor columns | 2/10 done, 1 failed (BROKEN), "
                    "elapsed 1m00s, ETA 3m30s")
    for i in range(7):
        p.record(f"P{i + 3:02d}", ok=True)
    assert p.left == 0 and p.eta(now=400.0) is None


def test_many_failures_and_running_recordings_are_shortened():
    p = CohortProgress(8, skipped=5, started=0.0)
    for name in ("A", "B", "C", "D"):
        p.record(name, ok=False)
    assert p.counts(now=5.0) == "0/8 done (+5 before), 4 failed (A, B, C, …), elapsed 5s"
    assert p.status([f"R{i}" for i in range(6)], now=5.0).endswith("running R0, R1, R2, R3 +2")


def test_durations_read_as_time():
    assert [duration(s) for s in (42, 185, 3720)] == ["42s", "3m05s", "1h02m"]
