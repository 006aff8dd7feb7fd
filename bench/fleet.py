"""A fleet of gateways through real Mosquitto into K sink workers and VictoriaMetrics.

N simulated gateways publish what a real gateway publishes for its wearer, at the real rate:
1 Hz angles, a status every 60 s, an episode end and its alert every 180 s, with the daemon's
own payload functions, QoS 1, optionally a 1 kB raw block per second. ``bench/fleet_gateways.py``
runs them: every wearer has its own MQTT connection, but a publisher process drives hundreds of
them from one selector loop with payloads built from numpy blocks, so a wearer costs little
here and the fleet, not this machine, sets the pace (``--procs`` processes). K ``posturewatch
sink`` processes share one subscription and write to a private VictoriaMetrics. For every
(N, K) the script prints:

* msgs/s achieved against the fleet's real rate, and how late the publishers ran;
* sink lag p50/p99: publish (the moment a message was due) → queryable in the database (a
  probe polls the database every 50 ms for the angles of some wearers and takes a second as
  seen when the query that found it was sent); "steady" leaves out the first ``WARMUP_S``
  seconds: the probe starts 3 s in (a query made before a series exists keeps it hidden for up
  to ~10 s in VictoriaMetrics 1.79, see ``bench/vm_visibility.py``), so the plain p99 is the
  start, not the pipeline (the slowest 1 % are printed with the second they were published in);
* where that time goes, part by part (``bench/fleet_breakdown.py``): the gateways, the sinks
  (``posturewatch sink --trace``) and the probe stamp every message of the probe wearers;
* loss: angle points published and not in the database after the drain; sustained: nothing
  lost and the backlog drained within 5 s;
* CPU per 100 wearers (cores) of the sinks, the broker, the publishers and the database, and
  wearers per sink core.

and writes the curve to a PNG (``--png``). ``--profile`` samples worker 0 with py-spy and prints
where its time goes.

    .venv/bin/python bench/fleet.py --n 100 500 1000 2000 --k 1 2 --duration 60
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_breakdown import breakdown, load_sink_traces, table  # noqa: E402
from servers import MosquittoServer, VictoriaMetricsServer  # noqa: E402
from sink_procs import SinkProcess  # noqa: E402

PROBES = 40  # wearers whose seconds the latency probe follows
WARMUP_S = 5  # a series' first points take longer to show (the database registers it): "steady" skips them
GATEWAYS = Path(__file__).with_name("fleet_gateways.py")
RATE_PER_WEARER = 1 + 1 / 60 + 2 / 180  # angles, status, episode end + alert (msgs/s)


# ---- the run ------------------------------------------------------------------------------------

def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _export(db, match: str, start_s: float) -> list[dict]:
    body = urllib.parse.urlencode({"match[]": match, "start": f"{start_s:.3f}"}).encode()
    with urllib.request.urlopen(db.url + "/api/v1/export", data=body, timeout=30) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line]


class Probe(threading.Thread):
    """Polls the database for the probe wearers' angles; first-seen time per (user, second).

    A second counts as seen at the moment the query that found it was *sent* (the database
    answered from what was searchable then), so the figure is late by at most one poll period,
    not by the period plus the query's own time. Each query asks only from a few seconds before
    the oldest wearer's newest seen point, which keeps it small enough to poll every ``poll_s``.
    It starts ``delay_s`` after the fleet: asked before a series exists, VictoriaMetrics keeps
    answering "no such series" for up to ~10 s after it appears (``bench/vm_visibility.py``), which
    would measure the probe, not the pipeline."""

    def __init__(self, db, users: list[str], since: float, poll_s: float = 0.05,
                 delay_s: float = 3.0) -> None:
        super().__init__(daemon=True)
        self.db, self.users, self.since = db, users, since
        self.poll_s, self.delay_s = poll_s, delay_s
        self.seen: dict[tuple[str, int], float] = {}
        self.stop = threading.Event()
        self.asked: list[float] = []
        self.query_s: list[float] = []

    def run(self) -> None:
        match = 'angles_pelvic_tilt{user=~"' + "|".join(self.users) + '"}'
        newest = dict.fromkeys(self.users, 0)
        while time.time() < self.since + self.delay_s:
            if self.stop.wait(0.05):
                return
        while not self.stop.wait(self.poll_s):
            asked = time.time()
            oldest = min(newest.values()) / 1000.0
            start = max(asked - 30.0, oldest - 5.0)
            try:
                series = _export(self.db, match, start)
            except OSError:
                continue
            self.asked.append(asked)
            self.query_s.append(time.time() - asked)
            for s in series:
                user = s["metric"]["user"]
                for ts in s["timestamps"]:
                    self.seen.setdefault((user, ts), asked)
                if s["timestamps"]:
                    newest[user] = max(newest[user], max(s["timestamps"]))

    def latencies(self) -> list[float]:
        return [seen - ts / 1000.0 for (_, ts), seen in self.seen.items()]

    def polling(self) -> dict[str, float]:
        gaps = [b - a for a, b in zip(self.asked, self.asked[1:], strict=False)]
        return {"period_s": statistics.fmean(gaps) if gaps else float("nan"),
                "query_s": statistics.fmean(self.query_s) if self.query_s else float("nan")}


def run_point(broker, db, n: int, k: int, duration: float, procs: int, raw: bool,
              profile: Path | None, tmp: Path, linger: float, poll: float) -> dict:
    tag = f"f{uuid.uuid4().hex[:5]}"
    users = [f"{tag}w{i}" for i in range(n)]
    probes = users[:: max(1, n // PROBES)][:PROBES]
    traces = [tmp / f"{tag}-sink{i}.jsonl" for i in range(k)]
    workers = [SinkProcess(broker.host, broker.port, db.url, "--mqtt-user", "", "--group", tag,
                           "--shard", tag, "--worker", str(i), "--batch", "5000", "--linger", str(linger),
                           "--trace", str(traces[i]), "--trace-users", ",".join(probes))
               for i in range(k)]
    for w in workers:
        w.wait_subscribed(60)
    start_at = time.time() + 3.0 + n / 400  # connecting takes a while for many gateways
    shares = [users[j::procs] for j in range(min(procs, n))]
    pubs = [subprocess.Popen([sys.executable, str(GATEWAYS), "--port", str(broker.port),
                              "--users", ",".join(share), "--duration", str(duration),
                              "--start-at", str(start_at), "--seed", str(j), *(["--raw"] if raw else []),
                              "--trace-users", ",".join(set(probes) & set(share))],
                             stdout=subprocess.PIPE, text=True) for j, share in enumerate(shares)]
    probe = Probe(db, probes, start_at, poll_s=poll)
    probe.start()
    while time.time() < start_at:
        time.sleep(0.01)
    cpu0 = [_cpu_s(w.proc.pid) for w in workers]
    others0 = {"broker": _cpu_s(broker.pid), "db": _cpu_s(db.pid)}
    spy = None
    if profile is not None:  # py-spy samples every thread of worker 0 while the fleet publishes
        spy_bin = str(Path(sys.executable).with_name("py-spy"))
        spy = subprocess.Popen([spy_bin, "record", "--format", "raw", "--rate", "50", "--nonblocking",
                                "--duration", str(int(duration)), "--output", str(profile),
                                "--pid", str(workers[0].proc.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    counts = [json.loads(p.communicate(timeout=duration + 600)[0].splitlines()[-1]) for p in pubs]
    published = sum(c["angles"] for c in counts)
    messages = sum(c["published"] for c in counts)
    refused = sum(c["refused"] for c in counts)  # the client was not connected: never sent
    late = max(c["late_s"] for c in counts)
    if unconnected := sum(c["unconnected"] for c in counts):
        print(f"N={n}: {unconnected} gateway(s) not connected at the end: their queued angles count "
              "as lost", file=sys.stderr)
    ended = time.time()
    cpu1 = [_cpu_s(w.proc.pid) for w in workers]
    span = max(ended - start_at, 1e-9)
    per100 = {name: (_cpu_s(pid) - others0[name]) / span * 100 / n
              for name, pid in (("broker", broker.pid), ("db", db.pid))}
    per100["pubs"] = sum(c["cpu_s"] for c in counts) / duration * 100 / n
    if spy is not None:
        spy.wait(60)
    drain_deadline = ended + 60
    stored = 0
    while time.time() < drain_deadline:
        db.flush()
        stored = sum(len(s["timestamps"]) for s in _export(db, f'angles_pelvic_tilt{{user=~"{tag}w.*"}}',
                                                           start_at - 5))
        if stored >= published:
            break
        time.sleep(0.5)
    drained = time.time() - ended
    probe.stop.set()
    probe.join(5)
    for w in workers:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
        w.proc.wait(60)
    lat = sorted(probe.latencies())
    steady = sorted(seen - ts / 1000.0 for (_, ts), seen in probe.seen.items()
                    if ts / 1000.0 >= start_at + WARMUP_S)
    # the tail by when it happened: a burst at one moment (a stall of this loaded machine) or spread
    slowest = sorted(((seen - ts / 1000.0, ts / 1000.0 - start_at) for (_, ts), seen in probe.seen.items()),
                  reverse=True)[: max(1, len(lat) // 100)]
    tail_at = sorted(round(at) for _, at in slowest)
    cores = sum(b - a for a, b in zip(cpu0, cpu1, strict=True)) / span
    per100["sink"] = cores * 100 / n
    parts = breakdown([row for c in counts for row in c["trace"]], load_sink_traces(traces),
                      probe.seen, (start_at + WARMUP_S) * 1000)
    return {"n": n, "k": k, "published": published, "refused": refused, "late_s": late, "stored": stored,
            "msgs_s": messages / duration, "target_msgs_s": n * RATE_PER_WEARER,
            "worst_late_s": max(c["worst_late_s"] for c in counts), "cpu_per_100": per100,
            "tail_at_s": tail_at,
            "p99_steady_s": steady[min(len(steady) - 1, int(0.99 * len(steady)))] if steady else float("nan"),
            "lost": max(0, published - stored),
            "drain_s": drained, "sink_cores": cores, "wearers_per_core": n / max(cores, 1e-9),
            "p50_s": statistics.median(lat) if lat else float("nan"),
            "p99_s": lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan"),
            "sustained": published - stored <= 0 and drained < 5.0,
            "parts": parts, "polling": probe.polling()}


def where_time_goes(path: Path, top: int = 12) -> str:
    """From py-spy's collapsed stacks: per function, the share of samples it is on the stack
    (inclusive) and on top (self), idle waits left out."""
    inclusive, own, total = Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] for f in stack.split(";")[1:]]  # the first is the thread
        if not frames or any(x in frames[-1] for x in ("wait", "select", "poll", "sleep", "acquire")):
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    rows = [f"{'busy samples':>14} {total}"]
    rows += [f"{100 * n / total:6.1f}% self {100 * inclusive[f] / total:6.1f}% incl  {f}"
             for f, n in own.most_common(top)] if total else []
    return "\n".join(rows)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for k in sorted({r["k"] for r in rows}):
        rs = [r for r in rows if r["k"] == k]
        color = f"C{k - 1}"
        a.plot([r["n"] for r in rs], [r["sink_cores"] for r in rs], "o-", color=color, label=f"K={k}")
        b.plot([r["n"] for r in rs], [r["p99_s"] for r in rs], "o-", color=color, label=f"K={k} p99")
        b.plot([r["n"] for r in rs], [r["p99_steady_s"] for r in rs], "s:", color=color,
               label=f"K={k} p99 after {WARMUP_S} s")
        b.plot([r["n"] for r in rs], [r["p50_s"] for r in rs], "o--", color=color, label=f"K={k} p50")
    a.set(xlabel="wearers (gateways)", ylabel="sink CPU (cores)", title="sink cost")
    b.set(xlabel="wearers (gateways)", ylabel="publish → queryable (s)", title="latency")
    a.legend()
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[100, 500, 1000, 2000])
    p.add_argument("--k", type=int, nargs="+", default=[1, 2])
    p.add_argument("--duration", type=float, default=30.0, help="seconds of publishing per point")
    p.add_argument("--procs", type=int, default=2, help="publisher processes")
    p.add_argument("--raw", action="store_true", help="also a 1 kB raw block per second (QoS 0)")
    p.add_argument("--png", type=Path, default=Path("fleet.png"))
    p.add_argument("--profile", action="store_true", help="py-spy on sink worker 0 of the last point")
    p.add_argument("--linger", type=float, default=0.05, help="the sinks' --linger (s)")
    p.add_argument("--poll", type=float, default=0.05, help="seconds between the probe's queries")
    args = p.parse_args(argv)
    rows = []
    # a connection per gateway: the broker (our child) needs more than the usual 1024 files
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    with tempfile.TemporaryDirectory() as tmp, \
            MosquittoServer(Path(tmp) / "mosquitto") as broker, \
            VictoriaMetricsServer(Path(tmp) / "victoria") as db:
        points = [(n, k) for k in args.k for n in args.n]
        for i, (n, k) in enumerate(points):
            prof = Path(tmp) / "sink.txt" if args.profile and i == len(points) - 1 else None
            rows.append(run_point(broker, db, n, k, args.duration, args.procs, args.raw, prof, Path(tmp),
                                  args.linger, args.poll))
            r = rows[-1]
            print(f"\nN={n} K={k}: publish → queryable, part by part (after the first {WARMUP_S} s)")
            print(table(r["parts"], r["polling"]), flush=True)
            print(f"N={n:5d} K={k}: {r['msgs_s']:.0f} msgs/s of {r['target_msgs_s']:.0f}, lost {r['lost']}, "
                  f"sink {r['sink_cores']:.2f} cores, p50 {r['p50_s']:.2f} s p99 {r['p99_s']:.2f} s",
                  file=sys.stderr, flush=True)
            if prof is not None and prof.exists():
                print(f"\nsink worker 0 at N={n} K={k}: where its threads spend their samples")
                print(where_time_goes(prof))
            print(f"N={n} K={k}: the slowest 1 % were published at (s into the run): {r['tail_at_s']}",
                  file=sys.stderr, flush=True)
    print(f"\n{'N':>6}{'K':>3}{'msgs/s':>9}{'of':>7}{'pub lag s':>10}{'lost':>6}{'drain s':>8}"
          f"{'p50 s':>7}{'p99 s':>7}{'steady':>7}{'wearers/sink core':>18}"
          "   CPU per 100 wearers (cores)  sustained")
    for r in rows:
        c = r["cpu_per_100"]
        print(f"{r['n']:>6}{r['k']:>3}{r['msgs_s']:>9.0f}{r['target_msgs_s']:>7.0f}{r['late_s']:>10.2f}"
              f"{r['lost']:>6}{r['drain_s']:>8.1f}{r['p50_s']:>7.2f}{r['p99_s']:>7.2f}{r['p99_steady_s']:>7.2f}"
              f"{r['wearers_per_core']:>18.0f}   sink {c['sink']:.3f} broker {c['broker']:.3f} "
              f"pubs {c['pubs']:.3f} db {c['db']:.3f}  {'yes' if r['sustained'] else 'NO'}")
    plot(rows, args.png)
    print(f"curve: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
