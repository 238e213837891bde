"""Flush a SQLite database's write-ahead log off the data path.

The alert log and the outbox commit with ``synchronous=NORMAL``: a commit is written
to the WAL file (in the page cache, so it survives a crash or kill -9 of the process)
without waiting for the disk. ``WalSync.flush`` then fsyncs that file, which makes
every commit so far durable against power loss, exactly as ``synchronous=FULL`` would
have done inside the commit. The difference is when and where: ``flush_soon`` leaves
the fsync to a thread of the store's own, so an alert is handed to the MQTT sender and
the stream goes on to its next sample or frame while the disk flushes. On an SD card
an fsync can take tens of milliseconds; done in line, two of them per alert would hold
up every alert and frame behind them. Commits that arrive while a flush runs are
flushed together by the next one (a group commit).

The WAL's frames carry salts and checksums, so whatever part of an unflushed commit
reaches the disk before a power loss, SQLite recovers to a whole commit, never half.

Every commit writes each page it changed to the WAL in full, so the stores use pages
of 1 KB rather than SQLite's 4 KB (``open_store``): an outbox message, stored and
then deleted on its ack, writes 7 KB to the WAL instead of 29 KB, which wears an SD
card less and leaves less for each fsync. A database keeps the page size it was
created with.

Checkpoints (copying the WAL back into the database, with two more fsyncs) are taken
off the commit path too: the connections turn SQLite's automatic checkpoint off, and
``flush`` runs one after every ``CHECKPOINT_EVERY`` commits on a connection of its own,
so that writers never wait for it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

CHECKPOINT_EVERY = 256  # commits between two checkpoints (a few MB of WAL at most)
PAGE_SIZE = 1024  # bytes, for a new database (see above)

log = logging.getLogger(__name__)


def open_store(path: Path, schema: str) -> tuple[sqlite3.Connection, Path | None]:
    """Open or create the database at ``path`` for a store that ``WalSync`` flushes:
    WAL mode, commits not fsynced (``flush`` does it), small pages if new, ``schema``
    applied. Returns the connection, and where a damaged file went (or None).

    A file SQLite cannot open (a torn or zeroed file after a power loss on a poor SD
    card) must not keep the daemon from starting: it is moved aside as it was, to
    ``<name>.damaged-<epoch s>``, logged, and an empty store starts. What is left of
    its WAL is of no use without it (SQLite removes it when the failed connection
    closes).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(path, schema), None
    except sqlite3.DatabaseError as err:
        aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        log.error(  # noqa: TRY400 -- the reason is enough, not a traceback
            "%s is unreadable (%s); moved to %s, starting empty", path, err, aside
        )
        path.rename(aside)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return _connect(path, schema), aside


def _connect(path: Path, schema: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before the first table only
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


class WalSync:
    """Flushes and checkpoints the WAL of ``db``, whose users hold ``lock`` while
    they commit; safe across threads, cheap when called often."""

    def __init__(self, database: Path, db: sqlite3.Connection, lock: threading.Lock):
        self.database = database
        self.path = Path(f"{database}-wal")
        self.failures = 0  # flushes or checkpoints that failed (logged)
        self._db_lock = lock
        self._commits = 0
        self._fd: int | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one flush at a time
        self._asked = threading.Condition()
        self._pending: bool | None = None  # a flush asked for: with fsync or not
        self._closed = False
        self._thread: threading.Thread | None = None
        db.execute("PRAGMA wal_autocheckpoint=0")  # see ``flush``

    def committed(self) -> None:
        """Count one commit (the caller holds the database lock)."""
        self._commits += 1

    def flush(self, fsync: bool = True) -> None:
        """With ``fsync``, make every commit so far durable (fsync of the WAL file);
        then checkpoint if enough commits have gathered. Returns when done."""
        with self._lock:
            if fsync:
                if self._fd is None and self.path.exists():
                    # The WAL stays while the connection is open (SQLite deletes it
                    # only when the last connection closes): one descriptor serves.
                    self._fd = os.open(self.path, os.O_RDONLY)
                if self._fd is not None:
                    os.fsync(self._fd)
            with self._db_lock:
                due = self._commits >= CHECKPOINT_EVERY
                if due:
                    self._commits = 0
            if due:
                if self._checkpointer is None:
                    self._checkpointer = sqlite3.connect(
                        self.database, check_same_thread=False, isolation_level=None
                    )
                    self._checkpointer.execute("PRAGMA wal_autocheckpoint=0")
                # PASSIVE: copies what no reader needs; never waits for anyone, and
                # on this connection no writer waits for it.
                self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def flush_soon(self, fsync: bool = True) -> None:
        """Ask for ``flush(fsync)`` in this store's flushing thread and return at
        once; flushes asked for while one runs are done together, by the next."""
        with self._asked:
            if self._closed:
                return
            self._pending = bool(self._pending) or fsync
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"flush-{self.path.stem}", daemon=True
                )
                self._thread.start()
            self._asked.notify()

    def _run(self) -> None:
        while True:
            with self._asked:
                while self._pending is None and not self._closed:
                    self._asked.wait()
                fsync, self._pending = self._pending, None
                if fsync is None:  # closed, nothing left to flush
                    return
            try:
                self.flush(fsync)
            except (OSError, sqlite3.Error):
                # The commits stay in the WAL (safe from a crash); the next flush
                # tries again. Logged and counted, never fatal to the daemon.
                self.failures += 1
                log.exception("flushing %s failed", self.path)

    def close(self) -> None:
        """Finish the flushes asked for, stop the thread, close what it opened.
        The caller closes the database afterwards (which checkpoints it)."""
        with self._asked:
            self._closed = True
            self._asked.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        with self._lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
