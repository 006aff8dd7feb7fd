"""A fleet of gateways through real Mosquitto into K sink workers and VictoriaMetrics.

N simulated gateways publish what a real gateway publishes for its wearer, at the real rate:
1 Hz angles, a status every 60 s, an episode (start and end) and an alert every few minutes, as
``store/hub.py`` builds them (the same payload functions), QoS 1, optionally a 1 kB raw block per
second. The gateways are spread over a few publisher processes (``--procs``), each with one MQTT
connection per gateway. K ``posturewatch sink`` processes share one subscription and write to a
private VictoriaMetrics. For every (N, K) the script prints:

* sustained: whether the sinks kept up (nothing lost and the backlog drained within 5 s);
* wearers per sink core: N ÷ the sink processes' CPU time per second of the run;
* end-to-end latency p50/p99 from publish to queryable (a probe polls the database for the
  angles of some wearers and notes when each second first shows up);
* loss: angle points published and not in the database after the drain; ``pub lag`` says how
  far the publisher processes fell behind real time (past a few seconds the fleet, not the
  sink, is the limit on this machine).

and writes the curve to a PNG (``--png``). ``--profile`` samples worker 0 with py-spy and prints
where its time goes.

    .venv/bin/python bench/fleet.py --n 100 500 1000 2000 --k 1 2 --duration 60
"""

from __future__ import annotations

import argparse
import contextlib
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

from servers import MosquittoServer, VictoriaMetricsServer  # noqa: E402
from sink_procs import SinkProcess  # noqa: E402

PROBES = 12  # wearers whose seconds the latency probe follows


# ---- a publisher process: many gateways ---------------------------------------------------------

def gateway_main(port: int, users: list[str], duration: float, start_at: float, raw: bool) -> None:
    import paho.mqtt.client as mqtt

    from posturewatch.alerts.mqtt.payloads import (
        alert_payload,
        angles_payload,
        encode,
        episode_payload,
        status_payload,
    )
    from posturewatch.alerts.records import Alert
    from posturewatch.analytics.records import Episode, EpisodeEvent

    clients = []
    for user in users:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"gw-{user}",
                        protocol=mqtt.MQTTv311, clean_session=True)
        c.max_inflight_messages_set(100)
        c.connect("127.0.0.1", port)
        c.loop_start()
        clients.append(c)
    while time.time() < start_at:
        time.sleep(0.01)
    sent = refused = 0
    last = {}
    second = 0
    block = os.urandom(1024) if raw else b""
    while second < duration:
        due = start_at + second
        while time.time() < due:
            time.sleep(min(0.005, due - time.time()))
        for i, (user, c) in enumerate(zip(users, clients, strict=True)):
            now = time.time()
            base = f"posturewatch/{user}/"
            info = c.publish(base + "angles", encode(angles_payload(now, "sitting", {
                "pelvic_tilt": -5.0 + (second % 10), "trunk_inclination": 3.0,
                "thigh_inclination": 85.0})), qos=1)
            last[user] = info
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                sent += 1
            else:
                refused += 1
            phase = (second + i) % 180
            if phase == 0:
                c.publish(base + "status", encode(status_payload(now, True, {
                    "pelvis": {"connected": True, "battery_pct": 80.0, "rate_hz": 52.0,
                               "loss_pct": 0.1}})), qos=1)
            if phase == 90:
                ep = Episode("posterior_tilt", now - 90, now - 30, now - 1, -20.0, -17.0)
                c.publish(base + "episodes", encode(episode_payload(EpisodeEvent("end", ep, now))), qos=1)
                alert = Alert(f"{ep.id}-a0", ep.kind, "t", "m", "warning", now - 30, ep.id, ep.start)
                c.publish(base + "alerts", encode(alert_payload(alert)), qos=1)
            if raw:
                c.publish(base + "raw", block, qos=0)
        second += 1
    late = time.time() - (start_at + duration)  # how far the publishers fell behind the clock
    stuck = 0
    for user, c in zip(users, clients, strict=True):  # what was queued reaches the broker first
        if not c.is_connected():
            stuck += 1  # never connected (at N in the thousands on a small machine): say so
            continue
        with contextlib.suppress(RuntimeError, ValueError):
            last[user].wait_for_publish(30)
    for c in clients:
        c.disconnect()
        c.loop_stop()
    print(json.dumps({"angles": sent, "refused": refused, "late_s": late, "unconnected": stuck}),
          flush=True)


# ---- the run ------------------------------------------------------------------------------------

def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _export(db, match: str, start_s: float) -> list[dict]:
    body = urllib.parse.urlencode({"match[]": match, "start": f"{start_s:.3f}"}).encode()
    with urllib.request.urlopen(db.url + "/api/v1/export", data=body, timeout=30) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line]


class Probe(threading.Thread):
    """Polls the database for the probe wearers' angles; first-seen time per (user, second)."""

    def __init__(self, db, users: list[str], since: float) -> None:
        super().__init__(daemon=True)
        self.db, self.users, self.since = db, users, since
        self.seen: dict[tuple[str, int], float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        match = 'angles_pelvic_tilt{user=~"' + "|".join(self.users) + '"}'
        while not self.stop.wait(0.25):
            try:
                series = _export(self.db, match, time.time() - 30)
            except OSError:
                continue
            now = time.time()
            for s in series:
                for ts in s["timestamps"]:
                    self.seen.setdefault((s["metric"]["user"], ts), now)

    def latencies(self) -> list[float]:
        return [seen - ts / 1000.0 for (_, ts), seen in self.seen.items()]


def run_point(broker, db, n: int, k: int, duration: float, procs: int, raw: bool,
              profile: Path | None) -> dict:
    tag = f"f{uuid.uuid4().hex[:5]}"
    users = [f"{tag}w{i}" for i in range(n)]
    workers = [SinkProcess(broker.host, broker.port, db.url, "--mqtt-user", "", "--group", tag,
                           "--shard", tag, "--worker", str(i), "--batch", "5000") for i in range(k)]
    for w in workers:
        w.wait_subscribed(60)
    start_at = time.time() + 3.0 + n / 400  # connecting takes a while for many gateways
    shares = [users[j::procs] for j in range(min(procs, n))]
    pubs = [subprocess.Popen([sys.executable, __file__, "gateway", "--port", str(broker.port),
                              "--users", ",".join(share), "--duration", str(duration),
                              "--start-at", str(start_at), *(["--raw"] if raw else [])],
                             stdout=subprocess.PIPE, text=True) for share in shares]
    probe = Probe(db, users[:: max(1, n // PROBES)][:PROBES], start_at)
    probe.start()
    while time.time() < start_at:
        time.sleep(0.01)
    cpu0 = [_cpu_s(w.proc.pid) for w in workers]
    spy = None
    if profile is not None:  # py-spy samples every thread of worker 0 while the fleet publishes
        spy_bin = str(Path(sys.executable).with_name("py-spy"))
        spy = subprocess.Popen([spy_bin, "record", "--format", "raw", "--rate", "50", "--nonblocking",
                                "--duration", str(int(duration)), "--output", str(profile),
                                "--pid", str(workers[0].proc.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    counts = [json.loads(p.communicate(timeout=duration + 600)[0].splitlines()[-1]) for p in pubs]
    published = sum(c["angles"] for c in counts)
    refused = sum(c["refused"] for c in counts)  # the client was not connected: never sent
    late = max(c["late_s"] for c in counts)
    if unconnected := sum(c["unconnected"] for c in counts):
        print(f"N={n}: {unconnected} gateway(s) never connected: their queued angles count as lost",
              file=sys.stderr)
    ended = time.time()
    cpu1 = [_cpu_s(w.proc.pid) for w in workers]
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
    cores = sum(b - a for a, b in zip(cpu0, cpu1, strict=True)) / max(ended - start_at, 1e-9)
    return {"n": n, "k": k, "published": published, "refused": refused, "late_s": late, "stored": stored,
            "lost": max(0, published - stored),
            "drain_s": drained, "sink_cores": cores, "wearers_per_core": n / max(cores, 1e-9),
            "p50_s": statistics.median(lat) if lat else float("nan"),
            "p99_s": lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan"),
            "sustained": published - stored <= 0 and drained < 5.0}


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
        b.plot([r["n"] for r in rs], [r["p50_s"] for r in rs], "o--", color=color, label=f"K={k} p50")
    a.set(xlabel="wearers (gateways)", ylabel="sink CPU (cores)", title="sink cost")
    b.set(xlabel="wearers (gateways)", ylabel="publish → queryable (s)", title="latency")
    a.legend()
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "gateway":
        p = argparse.ArgumentParser()
        p.add_argument("gateway")
        p.add_argument("--port", type=int)
        p.add_argument("--users")
        p.add_argument("--duration", type=float)
        p.add_argument("--start-at", type=float)
        p.add_argument("--raw", action="store_true")
        a = p.parse_args(argv)
        gateway_main(a.port, a.users.split(","), a.duration, a.start_at, a.raw)
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[100, 500, 1000, 2000])
    p.add_argument("--k", type=int, nargs="+", default=[1, 2])
    p.add_argument("--duration", type=float, default=30.0, help="seconds of publishing per point")
    p.add_argument("--procs", type=int, default=4, help="publisher processes")
    p.add_argument("--raw", action="store_true", help="also a 1 kB raw block per second (QoS 0)")
    p.add_argument("--png", type=Path, default=Path("fleet.png"))
    p.add_argument("--profile", action="store_true", help="py-spy on sink worker 0 of the last point")
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
            rows.append(run_point(broker, db, n, k, args.duration, args.procs, args.raw, prof))
            r = rows[-1]
            print(f"N={n:5d} K={k}: {r['published']} angles, lost {r['lost']}, sink "
                  f"{r['sink_cores']:.2f} cores, p50 {r['p50_s']:.2f} s p99 {r['p99_s']:.2f} s",
                  file=sys.stderr, flush=True)
            if prof is not None and prof.exists():
                print(f"\nsink worker 0 at N={n} K={k}: where its threads spend their samples")
                print(where_time_goes(prof))
    print(f"\n{'N':>6}{'K':>3}{'published':>11}{'unsent':>8}{'pub lag s':>10}{'lost':>7}{'drain s':>9}"
          f"{'sink cores':>12}{'wearers/core':>14}{'p50 s':>8}{'p99 s':>8}  sustained")
    for r in rows:
        print(f"{r['n']:>6}{r['k']:>3}{r['published']:>11}{r['refused']:>8}{r['late_s']:>10.1f}{r['lost']:>7}{r['drain_s']:>9.1f}"
              f"{r['sink_cores']:>12.2f}{r['wearers_per_core']:>14.0f}{r['p50_s']:>8.2f}"
              f"{r['p99_s']:>8.2f}  {'yes' if r['sustained'] else 'NO'}")
    plot(rows, args.png)
    print(f"curve: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
