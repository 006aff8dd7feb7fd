"""Outbox: durable FIFO per channel, acks, dead letters, the bound policy."""

from __future__ import annotations

import threading

import pytest

from posturewatch.store.outbox import EVENT, TELEMETRY, Outbox


def test_items_survive_reopen_in_order_until_acked(tmp_path):
    box = Outbox(tmp_path / "o.db")
    seqs = [box.put("mqtt", f"m{i}", meta={"topic": "t", "qos": 1}) for i in range(5)]
    box.put("influx", "line 1")
    box.ack(seqs[:2])
    box.close()

    again = Outbox(tmp_path / "o.db")
    assert again.pending("mqtt") == 3 and again.pending("influx") == 1 and again.pending() == 4
    items = again.peek("mqtt", limit=10)
    assert [i.payload for i in items] == [b"m2", b"m3", b"m4"]
    assert items[0].meta == {"topic": "t", "qos": 1}
    assert [i.payload for i in again.peek("mqtt", limit=10, after_seq=items[0].seq)] == [b"m3", b"m4"]
    again.ack([items[0].seq, items[0].seq, 999999])  # repeated / unknown acks are harmless
    assert again.pending("mqtt") == 2


def test_bound_drops_oldest_telemetry_first_and_counts(tmp_path):
    box = Outbox(tmp_path / "o.db", max_rows=4)
    box.put("mqtt", "event-0", priority=EVENT)
    for i in range(3):
        box.put("mqtt", f"tele-{i}", priority=TELEMETRY)
    box.put("mqtt", "event-1", priority=EVENT)
    box.put("mqtt", "event-2", priority=EVENT)
    kept = [i.payload.decode() for i in box.peek("mqtt", 10)]
    assert kept == ["event-0", "tele-2", "event-1", "event-2"]
    assert box.dropped["mqtt"] == 2
    # with no telemetry left, the oldest events go
    box.put("mqtt", "event-3")
    box.put("mqtt", "event-4")
    kept = [i.payload.decode() for i in box.peek("mqtt", 10)]
    assert kept == ["event-1", "event-2", "event-3", "event-4"]
    assert box.dropped["mqtt"] == 4 and box.pending("mqtt") == 4
    assert box.pending("influx") == 0  # channels are bounded separately


def test_dead_letter_moves_items_out(tmp_path):
    box = Outbox(tmp_path / "o.db")
    a = box.put("influx", "good")
    b = box.put("influx", "bad")
    box.dead_letter([b], "400 bad line")
    assert [i.seq for i in box.peek("influx")] == [a]
    assert box.dead_count("influx") == 1 and box.pending("influx") == 1


def test_concurrent_producers_lose_nothing(tmp_path):
    box = Outbox(tmp_path / "o.db", synchronous="NORMAL")

    def produce(k: int) -> None:
        for i in range(50):
            box.put("influx", f"{k}-{i}")

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    payloads = [i.payload.decode() for i in box.peek("influx", 1000)]
    assert len(payloads) == 200 == len(set(payloads))
    for k in range(4):  # each producer's items keep their order
        mine = [p for p in payloads if p.startswith(f"{k}-")]
        assert mine == [f"{k}-{i}" for i in range(50)]


def test_bad_configuration_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="max_rows"):
        Outbox(tmp_path / "o.db", max_rows=0)
    with pytest.raises(ValueError, match="synchronous"):
        Outbox(tmp_path / "p.db", synchronous="OFF")
