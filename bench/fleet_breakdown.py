"""Where ``bench/fleet.py``'s publish → queryable time goes, from timestamps along the way.

For the probe wearers every angles message is followed by its (user, ts_ms) key through:

* due → publish: how late the gateway process called ``publish`` (its own lateness);
* publish → socket: until paho handed the bytes to the socket (the gateway's loop);
* socket → sink: broker and network, until the sink's MQTT thread had it;
* sink queue: waiting in the worker's inbox for a batch to be taken (the linger);
* parse: turning the batch into lines;
* DB write: the HTTP write call, until the database answered;
* write → visible: until the probe saw it; the database's own delay before a written row is
  searchable, plus up to one probe poll period (printed separately, measured).

Each part's p50 / p99 / mean is printed, with the end-to-end figure over the same messages.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

PARTS = ("due → publish", "publish → socket", "socket → sink", "sink queue", "parse", "DB write",
         "write → visible")


def load_sink_traces(paths: list[Path]) -> dict[tuple[str, int], dict]:
    out: dict[tuple[str, int], dict] = {}
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            if line:
                row = json.loads(line)
                out.setdefault((row["user"], row["ts_ms"]), row)  # a redelivery keeps the first
    return out


def _find(table: dict, user: str, ts_ms: int):
    for key in ((user, ts_ms), (user, ts_ms - 1), (user, ts_ms + 1)):  # float rounding of "due"
        if key in table:
            return table[key]
    return None


def breakdown(pub_trace: list[list], sink_rows: dict[tuple[str, int], dict],
              seen: dict[tuple[str, int], float], since_ms: float) -> dict[str, list[float]]:
    """Per part, the seconds of every probe message published after ``since_ms`` that all
    three (gateway, sink, probe) saw; "total" is due → visible over the same messages."""
    parts: dict[str, list[float]] = {name: [] for name in (*PARTS, "total")}
    for user, ts_ms, called, sent in pub_trace:
        if ts_ms < since_ms:
            continue
        sink = _find(sink_rows, user, ts_ms)
        visible = _find(seen, user, ts_ms)
        if sink is None or visible is None or not sent:
            continue
        due = ts_ms / 1000.0
        marks = (due, called, sent, sink["received"], sink["taken"], sink["write_start"],
                 sink["written"], visible)
        for name, a, b in zip(PARTS, marks[:-1], marks[1:], strict=True):
            parts[name].append(b - a)
        parts["total"].append(visible - due)
    return parts


def _q(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))]


def table(parts: dict[str, list[float]], poll: dict[str, float]) -> str:
    n = len(parts["total"])
    if not n:
        return "breakdown: no probe message was traced end to end"
    rows = [f"{'part':24s}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}   ({n} messages)"]
    for name, values in parts.items():
        rows.append(f"{name:24s}{1000 * statistics.median(values):9.0f}{1000 * _q(values, 0.99):9.0f}"
                    f"{1000 * statistics.fmean(values):9.0f}")
    rows.append(f"  probe: a poll every {1000 * poll['period_s']:.0f} ms (mean), each query "
                f"{1000 * poll['query_s']:.0f} ms; 'write → visible' includes up to one period")
    return "\n".join(rows)
