"""Fuzzing at scale: ≥ 10⁶ generated inputs through every place outside data comes in.

Targets (bench/fuzz_targets.py): each BLE family's decoder, the recording reader, the
per-location CSV reader and the device-file reader (bytes written to a temp file), every MQTT
command payload (``CommandService.handle``), the sink's input (``store.from_mqtt.lines_for``)
and the config loader (``runtime.config.from_mapping`` on mutated TOML-like dicts).

Inputs are mutations of valid seeds made by our own encoders and writers (bit flips, odd bytes,
cuts, inserts, repeats, splices, pure noise; for JSON and dicts, values swapped for odd ones,
keys dropped or added), from one seeded ``random.Random``, so a run is reproducible and a crash
can be replayed from its seed and index. A rejection is a documented error type or a counter
the target keeps; anything else is a crash, printed with the input (first ones only). Prints a
table (inputs, taken, rejected, crashes, distinct reasons, inputs/s) and exits 1 on a crash.

    .venv/bin/python bench/fuzz.py                # 1 000 000 inputs (about an hour here)
    .venv/bin/python bench/fuzz.py --quick        # a few thousand: what CI runs
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
import traceback
import warnings
from collections import Counter

from fuzz_targets import Target, all_targets, mutate_bytes


def fuzz(target: Target, n: int, rng: random.Random, show: int = 3) -> dict:
    pool = list(target.seeds)
    reasons: Counter[str] = Counter()
    crashes: Counter[str] = Counter()
    taken = 0
    started = time.perf_counter()
    for i in range(n):
        seed = rng.choice(pool)
        mutate = target.mutate or (lambda seed, pool, rng: mutate_bytes(seed, pool, rng))
        data = mutate(seed, pool, rng)
        try:
            reason = target.run(data)
        except (KeyboardInterrupt, MemoryError):
            raise
        except BaseException as exc:  # noqa: BLE001 - a crash of the target is what we look for
            key = f"{type(exc).__name__}: {str(exc)[:80]}"
            if not crashes[key] and sum(crashes.values()) < show:
                print(f"CRASH in {target.name} at input {i}: {key}\n  input {data!r:.300}\n"
                      + "".join(traceback.format_exception(exc)[-3:]), file=sys.stderr)
            crashes[key] += 1
            continue
        if reason is None:
            taken += 1
        else:
            reasons[reason] += 1
        if i % 50 == 49 and len(pool) < 200 and reason is None:
            pool.append(data)  # inputs that went through whole seed further mutations
    elapsed = time.perf_counter() - started
    return {"name": target.name, "inputs": n, "taken": taken, "rejected": sum(reasons.values()),
            "crashes": sum(crashes.values()), "reasons": len(reasons), "rate": n / max(elapsed, 1e-9),
            "top": reasons.most_common(3), "crash_kinds": dict(crashes)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="fuzz every input path; see the module docstring")
    p.add_argument("--inputs", type=int, default=1_000_000, help="total inputs over all targets")
    p.add_argument("--quick", action="store_true", help="a few thousand inputs (CI)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", default=None, help="targets whose name contains this")
    args = p.parse_args(argv)
    total = 4000 if args.quick else args.inputs
    logging.disable(logging.CRITICAL)  # rejections log a warning each; they are counted here
    warnings.simplefilter("ignore")
    targets = [t for t in all_targets() if args.only is None or args.only in t.name]
    weight = sum(t.weight for t in targets)
    rng = random.Random(args.seed)
    rows = []
    for target in targets:
        n = max(50 if args.quick else 500, round(total * target.weight / weight))
        rows.append(fuzz(target, n, rng))
        r = rows[-1]
        print(f"  {r['name']}: {r['inputs']} inputs, {r['crashes']} crashes", file=sys.stderr)
    print(f"\n{'target':<22}{'inputs':>10}{'taken':>9}{'rejected':>10}{'crashes':>9}"
          f"{'reasons':>9}{'inputs/s':>10}  most common rejections")
    for r in rows:
        top = ", ".join(f"{k} {v}" for k, v in r["top"])
        print(f"{r['name']:<22}{r['inputs']:>10}{r['taken']:>9}{r['rejected']:>10}{r['crashes']:>9}"
              f"{r['reasons']:>9}{r['rate']:>10.0f}  {top[:90]}")
    inputs = sum(r["inputs"] for r in rows)
    crashes = sum(r["crashes"] for r in rows)
    print(f"{'total':<22}{inputs:>10}{sum(r['taken'] for r in rows):>9}"
          f"{sum(r['rejected'] for r in rows):>10}{crashes:>9}")
    for r in rows:
        for kind, count in r["crash_kinds"].items():
            print(f"crash in {r['name']}: {count} × {kind}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
