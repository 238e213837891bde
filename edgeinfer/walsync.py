"""Flush a SQLite database's write-ahead log when the caller chooses.

The alert log and the outbox commit with ``synchronous=NORMAL``: a commit is written
to the WAL file (in the page cache, so it survives a crash or kill -9 of the process)
without waiting for the disk. ``WalSync.flush`` then fsyncs that file, which makes
every commit so far durable against power loss, exactly as ``synchronous=FULL`` would
have done inside the commit. The difference is when: an alert can be handed to the
MQTT sender first and flushed while it is on its way to the broker, so the disk and
the network wait side by side instead of one after the other.

The WAL's frames carry salts and checksums, so whatever part of an unflushed commit
reaches the disk before a power loss, SQLite recovers to a whole commit, never half.

Checkpoints (copying the WAL back into the database, with two more fsyncs) are taken
off the commit path too: the connections turn SQLite's automatic checkpoint off, and
``flush`` runs one after every ``CHECKPOINT_EVERY`` commits, once the commit it
flushes has been handed on.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

CHECKPOINT_EVERY = 256  # commits between two checkpoints (a few MB of WAL at most)


class WalSync:
    """Flushes and checkpoints the WAL of ``db``, whose users hold ``lock`` while
    they use it; safe across threads, cheap when called often."""

    def __init__(self, database: Path, db: sqlite3.Connection, lock: threading.Lock):
        self.path = Path(f"{database}-wal")
        self._db = db
        self._db_lock = lock
        self._commits = 0
        self._fd: int | None = None
        self._lock = threading.Lock()
        db.execute("PRAGMA wal_autocheckpoint=0")  # see ``flush``

    def committed(self) -> None:
        """Count one commit (the caller holds the database lock)."""
        self._commits += 1

    def flush(self, fsync: bool = True) -> None:
        """With ``fsync``, make every commit so far durable (fsync of the WAL file);
        then checkpoint if enough commits have gathered."""
        if fsync:
            with self._lock:
                if self._fd is None and self.path.exists():
                    # The WAL stays while the connection is open (SQLite deletes it
                    # only when the last connection closes): one descriptor serves.
                    self._fd = os.open(self.path, os.O_RDONLY)
                if self._fd is not None:
                    os.fsync(self._fd)
        if self._commits >= CHECKPOINT_EVERY:
            with self._db_lock:
                self._commits = 0
                # PASSIVE: copies what no reader needs; never waits for anyone.
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close_fd(self) -> None:
        """Close the file descriptor (before the connection closes)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
