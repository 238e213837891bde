"""Delivery in order from several threads: ``OrderedSink``.

A serial stream is read by two threads that take turns at its port (see
``serial.py``). The thread that reads a line passes the reading to the sink itself,
with no hand-over to another thread, while the other thread stays at the port, so a
slow sink never leaves the port unread. The sink still sees one reading at a time,
in the order they were read: readings are queued in that order (the readers put
them while holding their read lock), and whichever thread finds the sink free
delivers everything queued, including what the other thread queued meanwhile.

    out = OrderedSink(sink, maxsize=10_000)
    with read_lock:
        out.put(reading)
    out.deliver()

The queue is bounded: ``wait_for_room`` holds a reader back while it is full, which
is back-pressure on the port (the bytes wait in the driver's buffer), and ``put``
waits too, when one read brought more lines than there is room for.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

_RECHECK_S = 0.05  # a put waiting for room looks again at least this often


class OrderedSink(Generic[T]):
    """Items put by several threads, passed to ``sink`` one at a time in the order
    they were put, by the threads that put them."""

    def __init__(self, sink: Callable[[T], None], maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"a reading queue holds at least 1 item, not {maxsize}")
        self.sink = sink
        self.maxsize = maxsize
        self._items: collections.deque[T] = collections.deque()
        self._delivering = threading.Lock()
        self._room = threading.Event()  # cleared only by a reader waiting for room
        self._room.set()

    def put(self, item: T) -> None:
        """Queue ``item``; callers put one at a time, in the order to deliver. While
        the queue is full this delivers, or waits for the thread that does."""
        while len(self._items) >= self.maxsize:
            self.deliver()
            self.wait_for_room(_RECHECK_S)
        self._items.append(item)

    def deliver(self) -> None:
        """Pass every queued item to the sink, unless another thread is doing so:
        that one delivers this thread's items too. An error of the sink propagates
        (its item is not delivered again)."""
        items = self._items
        # Checked again after each release: an item put while this thread delivered
        # and found the sink busy is seen here, or its own thread gets the lock.
        while items and self._delivering.acquire(blocking=False):
            try:
                while items:
                    self.sink(items.popleft())
                    if not self._room.is_set():
                        self._room.set()
            finally:
                self._delivering.release()

    def wait_for_room(self, timeout: float) -> bool:
        """True once fewer than ``maxsize`` items are queued; False if still full
        after ``timeout`` s (the caller checks whether to stop, then waits again)."""
        if len(self._items) < self.maxsize:
            return True
        self._room.clear()
        if len(self._items) < self.maxsize:  # delivered before the clear
            return True
        self._room.wait(timeout)
        return len(self._items) < self.maxsize

    def __len__(self) -> int:
        return len(self._items)
