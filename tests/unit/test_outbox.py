"""The durable outbox: order, acks, reopening, and its size bounds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edgeinfer.mqtt.messages import SEND_PRIORITY, Kind, Message, json_message
from edgeinfer.mqtt.outbox import Outbox


def message(kind: Kind, n: int, size: int = 10, topic: str = "") -> Message:
    return json_message(topic or f"dev/{kind}", kind, {"n": n, "pad": "x" * size})


def test_pending_sends_status_first_then_each_kind_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    for n in range(3):
        box.put(message("telemetry", n))
        box.put(message("alert", n))
    box.put(message("status", 0))
    sent = box.pending(10)
    assert [m.kind for m in sent] == ["status"] + ["alert"] * 3 + ["telemetry"] * 3
    assert [m.seq for m in sent if m.kind == "alert"] == sorted(
        m.seq for m in sent if m.kind == "alert"
    )
    skipped = {sent[0].seq, sent[1].seq}
    assert [m.id for m in box.pending(2, skip=skipped)] == [sent[2].id, sent[3].id]


def test_a_message_stays_until_acked_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    first = box.put(message("alert", 1)).seq
    box.put(
        Message(
            "dev/cmd/ping/reply",
            b"{}",
            "reply",
            correlation_data=b"\x00\x01",
            user_properties=(("k", "v"),),
        )
    )
    assert box.ack([first]) == 1
    assert box.ack([first]) == 0  # a second ack of the same message is harmless
    box.close()

    again = Outbox(path)
    (left,) = again.pending(10)
    assert (left.kind, left.correlation_data, left.user_properties) == (
        "reply",
        b"\x00\x01",
        (("k", "v"),),
    )
    assert again.stats().pending == 1
    assert again.stats().bytes == left.size


def test_replacing_a_topic_keeps_only_the_newest_status(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    for n in range(3):
        box.put(message("status", n), replace_topic=True)
    (status,) = box.pending(10)
    assert b'"n":2' in status.payload


def test_over_the_size_telemetry_goes_first_and_alerts_stay(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", max_bytes=5000, hard_max_bytes=100_000)
    alerts = [box.put(message("alert", n, 200)).seq for n in range(5)]
    for n in range(40):
        box.put(message("telemetry", n, 200))
    box.put(message("snapshot", 0, 200))
    stats = box.stats()
    assert stats.bytes <= 5000
    assert stats.by_kind["alert"] == 5
    assert stats.evicted > 0
    kept = [m for m in box.pending(100) if m.kind == "telemetry"]
    assert kept, "the newest telemetry fits and is kept"
    assert b'"n":39' in kept[-1].payload  # the oldest went first
    assert {m.seq for m in box.pending(100) if m.kind == "alert"} == set(alerts)


def test_past_the_hard_cap_the_oldest_alerts_go_and_are_named(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", max_bytes=2000, hard_max_bytes=4000)
    ids: list[str] = []
    dropped: list[str] = []
    while not dropped:
        m = message("alert", len(ids), 200)
        ids.append(m.id)
        dropped = box.put(m).dropped_alerts
    assert dropped == ids[: len(dropped)]  # oldest first, in order
    stats = box.stats()
    assert stats.dropped_alerts == len(dropped)
    assert stats.bytes <= 0.9 * 4000
    # Dropping goes to 90 % of the cap, so the report of the loss fits without
    # dropping another alert.
    assert box.put(message("alert", 99, 100)).dropped_alerts == []
    assert {m.id for m in box.pending(100)} >= set(ids[len(dropped) :])


def test_a_damaged_file_is_moved_aside_and_a_new_outbox_starts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.db"
    path.write_bytes(b"this is not a database" * 100)
    box = Outbox(path)
    assert len(box) == 0
    box.put(message("alert", 1))
    assert len(box) == 1
    aside = box.set_aside
    assert aside is not None
    assert aside.name.startswith("outbox.db.damaged-")
    assert aside.read_bytes() == b"this is not a database" * 100  # kept as it was
    assert box.stats().to_json()["set_aside"] == str(aside)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_an_outbox_of_the_earlier_layout_opens_with_its_messages(
    tmp_path: Path,
) -> None:
    """Earlier outboxes have 4 KB pages and a second index, on kind: the messages
    are kept and sent in order, the index goes, and the pages stay as they were;
    a new outbox has small pages (each commit writes less to the WAL)."""
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    stored = [box.put(message(k, n)) for n in range(2) for k in ("telemetry", "alert")]
    box.close()
    db = sqlite3.connect(path, isolation_level=None)
    assert db.execute("PRAGMA page_size").fetchone() == (1024,)
    db.execute("CREATE INDEX outbox_kind ON outbox (kind, seq)")
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA page_size=4096")
    db.execute("VACUUM")  # now as an earlier version left it
    db.close()

    box = Outbox(path)
    sent = box.pending(10)
    assert [m.kind for m in sent] == ["alert", "alert", "telemetry", "telemetry"]
    assert sorted(m.seq for m in sent) == sorted(r.seq for r in stored)
    assert box.stats().by_kind == {"alert": 2, "telemetry": 2}
    assert box.newest_payloads("alert", 1) == [sent[1].payload]
    box.ack([sent[0].seq])
    assert [m.seq for m in box.pending(10)] == [m.seq for m in sent[1:]]
    box.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA page_size").fetchone() == (4096,)
    indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "outbox_kind" not in indexes
    assert "outbox_send" in indexes
    db.close()


def test_every_kind_has_a_priority_of_its_own() -> None:
    """The outbox finds a kind's messages by its priority, through one index."""
    assert len(set(SEND_PRIORITY.values())) == len(SEND_PRIORITY)
