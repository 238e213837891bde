"""The durable outbox: every QoS 1 message is stored here before it is published and
deleted only when the broker has acknowledged it.

SQLite in WAL mode. ``put`` writes the message to the WAL file, where it survives a
crash or kill -9 of the process; with ``power_safe`` it also fsyncs it, so that it
survives a power loss. ``put(message, sync=False)`` leaves that fsync to ``sync()``:
the fleet link hands the stored message to the sender first, and ``sync(wait=False)``
has the outbox's own thread flush while it is being published and the stream goes on
(see ``edgeinfer.walsync``). Without ``power_safe`` nothing is
flushed except at SQLite's checkpoints.
``pending`` hands out what to send in order (by kind priority, then by sequence: each
topic stays in order). Acknowledgements are deleted in batches because losing one
only means the message is sent again, and consumers drop duplicates by ``id``.

The outbox is bounded by size. Past ``max_bytes`` the oldest messages of the kinds in
``EVICTION_ORDER`` go (telemetry first); alerts stay. Past ``hard_max_bytes`` the
oldest alerts go too, down to 90 % of the cap so that the report of the loss fits,
and ``put`` returns their ids so the caller can report it.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from edgeinfer.mqtt.messages import EVICTION_ORDER, SEND_PRIORITY, Kind, Message
from edgeinfer.walsync import WalSync, open_store

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    prio INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    props TEXT NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_send ON outbox (prio, seq);
DROP INDEX IF EXISTS outbox_kind;
"""
# One index serves sending (by priority) and each kind alone: a kind has a priority of
# its own. A second index, on kind, cost every insert and delete one more page.
_KIND_OF: dict[int, str] = {prio: kind for kind, prio in SEND_PRIORITY.items()}
_COLUMNS = "seq, id, kind, topic, payload, qos, retain, props"
_HARD_CAP_TARGET = 0.9  # drop alerts down to this share of the cap: room for the report


@dataclass
class PutResult:
    """What storing one message did: its sequence number, and what it pushed out."""

    seq: int
    evicted: int = 0
    dropped_alerts: list[str] = field(default_factory=list)


@dataclass
class OutboxStats:
    """Counters since the outbox was opened, and what it holds now."""

    pending: int = 0
    bytes: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    stored: int = 0
    acked: int = 0
    evicted: int = 0
    dropped_alerts: int = 0
    flush_failures: int = 0  # background fsyncs or checkpoints that failed (logged)
    set_aside: Path | None = None  # where a damaged file went when it was opened

    def to_json(self) -> dict[str, Any]:
        """Plain counters for status and telemetry."""
        return {
            "pending": self.pending,
            "bytes": self.bytes,
            "by_kind": dict(self.by_kind),
            "stored": self.stored,
            "acked": self.acked,
            "evicted": self.evicted,
            "dropped_alerts": self.dropped_alerts,
            "flush_failures": self.flush_failures,
            "set_aside": None if self.set_aside is None else str(self.set_aside),
        }


class Outbox:
    """Messages waiting for the broker's acknowledgement; safe across threads."""

    def __init__(
        self,
        path: Path,
        max_bytes: int = 64 << 20,
        hard_max_bytes: int = 256 << 20,
        power_safe: bool = True,
    ) -> None:
        self.path = path
        self.power_safe = power_safe
        self.max_bytes = max_bytes
        self.hard_max_bytes = max(hard_max_bytes, max_bytes)
        self._lock = threading.Lock()
        self._db, self.set_aside = open_store(path, _SCHEMA)  # fsynced by ``sync``
        self._wal = WalSync(path, self._db, self._lock)
        self._stats = OutboxStats()
        self._bytes, self._count = self._db.execute(
            "SELECT coalesce(sum(size), 0), count(*) FROM outbox"
        ).fetchone()

    # -- storing --------------------------------------------------------------------
    def put(
        self, message: Message, replace_topic: bool = False, sync: bool = True
    ) -> PutResult:
        """Store ``message``, enforce the size bounds, and with ``sync`` flush.

        With ``replace_topic`` earlier messages on the same topic are deleted first:
        for retained state only the newest matters.
        """
        props = _properties(message)
        with self._lock:
            if not replace_topic and self._bytes + message.size <= self.max_bytes:
                # The common case, one statement: SQLite commits it on its own.
                result = PutResult(self._insert(message, props))
                self._wal.committed()
            else:
                result = self._put_bounded(message, props, replace_topic)
        if sync:
            self.sync()
        return result

    def sync(self, wait: bool = True) -> None:
        """With ``power_safe``, flush every message stored so far to the disk;
        without ``wait`` in the outbox's flushing thread, returning at once."""
        if wait:
            self._wal.flush(fsync=self.power_safe)
        else:
            self._wal.flush_soon(fsync=self.power_safe)

    def _put_bounded(
        self, message: Message, props: str, replace_topic: bool
    ) -> PutResult:
        # One transaction: the insert and what it pushes out, or nothing.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if replace_topic:
                self._delete_where("topic = ?", (message.topic,))
            result = PutResult(self._insert(message, props))
            if self._bytes > self.max_bytes:
                result.evicted = self._evict()
            if self._bytes > self.hard_max_bytes:
                result.dropped_alerts = self._drop_alerts()
            self._db.execute("COMMIT")
            self._wal.committed()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return result

    def _insert(self, message: Message, props: str) -> int:
        # The new sequence number, or 0 if a message with this id is stored already.
        cur = self._db.execute(
            "INSERT OR IGNORE INTO outbox (id, kind, prio, topic, payload, "
            "qos, retain, props, size, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message.id,
                message.kind,
                SEND_PRIORITY[message.kind],
                message.topic,
                message.payload,
                message.qos,
                int(message.retain),
                props,
                message.size,
                time.time(),
            ),
        )
        if not cur.rowcount:
            return 0
        self._bytes += message.size
        self._count += 1
        self._stats.stored += 1
        return int(cur.lastrowid or 0)

    def _evict(self) -> int:
        evicted = 0
        for kind in EVICTION_ORDER:
            while self._bytes > self.max_bytes:
                rows = self._db.execute(
                    "SELECT seq FROM outbox WHERE prio = ? ORDER BY seq LIMIT 256",
                    (SEND_PRIORITY[kind],),
                ).fetchall()
                if not rows:
                    break
                for (seq,) in rows:
                    evicted += self._delete_where("seq = ?", (seq,))
                    if self._bytes <= self.max_bytes:
                        break
        self._stats.evicted += evicted
        if evicted:
            log.warning(
                "outbox over %d bytes: evicted %d oldest non-alert messages",
                self.max_bytes,
                evicted,
            )
        return evicted

    def _drop_alerts(self) -> list[str]:
        target = int(self.hard_max_bytes * _HARD_CAP_TARGET)
        dropped: list[str] = []
        while self._bytes > target:
            rows = self._db.execute(
                "SELECT seq, id FROM outbox WHERE prio = ? ORDER BY seq LIMIT 256",
                (SEND_PRIORITY["alert"],),
            ).fetchall()
            if not rows:
                break
            for seq, message_id in rows:
                self._delete_where("seq = ?", (seq,))
                dropped.append(str(message_id))
                if self._bytes <= target:
                    break
        self._stats.dropped_alerts += len(dropped)
        return dropped

    def _delete_where(self, condition: str, args: tuple[Any, ...]) -> int:
        # Keeps the in-memory size in step with the table; caller holds the lock.
        row = self._db.execute(
            f"SELECT coalesce(sum(size), 0), count(*) FROM outbox WHERE {condition}",  # noqa: S608 -- fixed conditions from this module
            args,
        ).fetchone()
        self._db.execute(f"DELETE FROM outbox WHERE {condition}", args)  # noqa: S608
        self._bytes -= int(row[0])
        self._count -= int(row[1])
        return int(row[1])

    # -- sending --------------------------------------------------------------------
    def pending(self, limit: int, skip: Iterable[int] = ()) -> list[Message]:
        """Up to ``limit`` messages to send next, in order, leaving out ``skip`` seqs
        (those already handed to the connection)."""
        skipped = set(skip)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox ORDER BY prio, seq LIMIT ?",  # noqa: S608
                (limit + len(skipped),),
            ).fetchall()
        out = [_row_message(row) for row in rows if row[0] not in skipped]
        return out[:limit]

    def newest_payloads(self, kind: Kind, limit: int) -> list[bytes]:
        """The payloads of the newest ``limit`` messages of ``kind``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT payload FROM outbox WHERE prio = ? ORDER BY seq DESC LIMIT ?",
                (SEND_PRIORITY[kind], limit),
            ).fetchall()
        return [bytes(row[0]) for row in reversed(rows)]

    def ack(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged messages (one transaction); return how many were here."""
        batch = [(seq,) for seq in seqs]
        if not batch:
            return 0
        deleted = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for (seq,) in batch:
                    deleted += self._delete_where("seq = ?", (seq,))
                self._db.execute("COMMIT")
                self._wal.committed()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._stats.acked += deleted
        return deleted

    # -- reporting ------------------------------------------------------------------
    def stats(self) -> OutboxStats:
        """Pending messages and bytes, by kind, with the counters."""
        with self._lock:
            by_kind = {
                _KIND_OF[prio]: count
                for prio, count in self._db.execute(
                    "SELECT prio, count(*) FROM outbox GROUP BY prio"
                )
            }
            s = self._stats
            return OutboxStats(
                pending=self._count,
                bytes=self._bytes,
                by_kind=by_kind,
                stored=s.stored,
                acked=s.acked,
                evicted=s.evicted,
                dropped_alerts=s.dropped_alerts,
                flush_failures=self._wal.failures,
                set_aside=self.set_aside,
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._count)

    def close(self) -> None:
        """Finish the flushes asked for, checkpoint the WAL and close."""
        self._wal.close()
        with self._lock:
            self._db.close()


def _row_message(row: tuple[Any, ...]) -> Message:
    seq, message_id, kind, topic, payload, qos, retain, props_text = row
    props = json.loads(props_text)
    return Message(
        topic=topic,
        payload=bytes(payload),
        kind=cast(Kind, kind),
        id=message_id,
        qos=int(qos),
        retain=bool(retain),
        correlation_data=bytes.fromhex(props["correlation_data"]) or None,
        content_type=props["content_type"],
        user_properties=tuple((str(k), str(v)) for k, v in props["user"]),
        seq=int(seq),
    )


@functools.lru_cache(maxsize=8)
def _plain_properties(content_type: str | None) -> str:
    return json.dumps(
        {"correlation_data": "", "content_type": content_type, "user": []}
    )


def _properties(message: Message) -> str:
    """The MQTT 5 properties of ``message`` as stored (``_row_message`` reads them)."""
    if message.correlation_data is None and not message.user_properties:
        return _plain_properties(message.content_type)  # most messages: no encoding
    return json.dumps(
        {
            "correlation_data": message.correlation_data.hex()
            if message.correlation_data
            else "",
            "content_type": message.content_type,
            "user": [list(p) for p in message.user_properties],
        }
    )
