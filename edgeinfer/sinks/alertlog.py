"""The durable local alert log: SQLite in WAL mode, every alert fsynced.

An alert is in the log once ``append`` returns, and stays through kill -9 and power
loss: the WAL is fsynced after the commit. ``append(alert, sync=False)`` leaves that
flush to a later ``sync()`` (the alert already survives kill -9), so that the daemon
can hand the alert to its sinks first; ``sync(wait=False)`` has the log's own thread
flush while the stream goes on (see ``edgeinfer.walsync``). The log is bounded
both in alerts (``max_rows``) and in bytes (``max_bytes``): past the byte bound the
snapshots of the oldest alerts go first (the alert itself is the record that matters),
then the oldest alerts. Freed pages are reused, so the file stops growing at the bound:
the log rotates in place.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from edgeinfer.rules.alert import Alert
from edgeinfer.walsync import WalSync, open_store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    ts REAL NOT NULL,
    stream TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    body TEXT NOT NULL,
    snapshot BLOB
);
"""


_PRUNE_BATCH = 50  # snapshots or alerts dropped per step when over the byte bound
_CHECK_EVERY = 64  # appends without a snapshot between two size checks


class AlertLog:
    """Append-only, bounded, crash-safe store of alerts; safe across threads."""

    def __init__(
        self, path: Path, max_rows: int = 100_000, max_bytes: int = 64 << 20
    ) -> None:
        self.path = path
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.pruned_snapshots = 0
        self.pruned_alerts = 0
        self._since_check = 0
        self._lock = threading.Lock()
        # a damaged file is set aside (``set_aside``) and a new log starts
        self._db, self.set_aside = open_store(path, _SCHEMA)  # fsynced by ``sync``
        self._wal = WalSync(path, self._db, self._lock)

    def append(self, alert: Alert, sync: bool = True) -> int:
        """Store ``alert``; return its sequence number in the log.

        With ``sync`` it is on disk when this returns; without, once ``sync()`` has.
        """
        body = alert.encoded.decode()
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO alerts (id, ts, stream, rule, severity, body, "
                "snapshot) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.id,
                    alert.timestamp,
                    alert.stream,
                    alert.rule,
                    alert.severity,
                    body,
                    alert.snapshot,
                ),
            )
            seq = int(cur.lastrowid or 0)
            self._wal.committed()
            if seq and seq % 1000 == 0:
                self._db.execute(
                    "DELETE FROM alerts WHERE seq <= ?", (seq - self.max_rows,)
                )
            self._since_check += 1
            if alert.snapshot is not None or self._since_check >= _CHECK_EVERY:
                self._since_check = 0
                self._bound_size(keep=seq)
        if sync:
            self.sync()
        return seq

    def sync(self, wait: bool = True) -> None:
        """Flush every alert appended so far to the disk (one fsync); without
        ``wait`` in the log's flushing thread, returning at once."""
        if wait:
            self._wal.flush(fsync=True)
        else:
            self._wal.flush_soon(fsync=True)

    @property
    def flush_failures(self) -> int:
        """Background fsyncs or checkpoints that failed (each logged; the alerts stay
        in the WAL, safe from a crash, and the next flush tries again)."""
        return self._wal.failures

    def used_bytes(self) -> int:
        """Bytes of the database in use (pages not on the free list)."""
        pages = self._pragma("page_count") - self._pragma("freelist_count")
        return pages * self._pragma("page_size")

    def _pragma(self, name: str) -> int:
        return int(self._db.execute(f"PRAGMA {name}").fetchone()[0])

    def _bound_size(self, keep: int) -> None:
        """Drop the oldest snapshots, then the oldest alerts, until under the bound;
        the alert ``keep`` (just appended) always stays."""
        while self.used_bytes() > self.max_bytes:
            cur = self._db.execute(
                "UPDATE alerts SET snapshot = NULL WHERE seq IN (SELECT seq FROM "
                "alerts WHERE snapshot IS NOT NULL AND seq < ? ORDER BY seq LIMIT ?)",
                (keep, _PRUNE_BATCH),
            )
            if cur.rowcount > 0:
                self.pruned_snapshots += cur.rowcount
                continue
            cur = self._db.execute(
                "DELETE FROM alerts WHERE seq IN (SELECT seq FROM alerts WHERE seq < ? "
                "ORDER BY seq LIMIT ?)",
                (keep, _PRUNE_BATCH),
            )
            if cur.rowcount <= 0:
                return  # only the newest alert is left: nothing more to drop
            self.pruned_alerts += cur.rowcount

    def tail(self, limit: int = 20, after: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """The newest ``limit`` alerts after sequence ``after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body FROM (SELECT seq, body FROM alerts WHERE seq > ? "
                "ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                (after, limit),
            ).fetchall()
        return [(int(seq), json.loads(body)) for seq, body in rows]

    def snapshot(self, alert_id: str) -> bytes | None:
        """The JPEG stored with an alert, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT snapshot FROM alerts WHERE id = ?", (alert_id,)
            ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def known(self, alert_ids: list[str]) -> set[str]:
        """Those of ``alert_ids`` that are in the log."""
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(alert_ids), 500):  # SQLite's variable limit
                batch = alert_ids[start : start + 500]
                marks = ",".join("?" * len(batch))
                rows = self._db.execute(
                    f"SELECT id FROM alerts WHERE id IN ({marks})",  # noqa: S608 -- placeholders
                    batch,
                )
                found.update(str(row[0]) for row in rows)
        return found

    def count(self) -> int:
        """Alerts in the log."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM alerts").fetchone()[0])

    def close(self) -> None:
        """Finish the flushes asked for, checkpoint the WAL and close."""
        self._wal.close()
        with self._lock:
            self._db.close()
