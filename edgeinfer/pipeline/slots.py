"""Latest-frame-wins slots, one per video stream, and the hub workers take from.

A slot holds at most one frame. Putting a frame into a full slot replaces the stale
one (counted as dropped): a slow model never builds a backlog. A stream is taken by one
worker at a time, so its results come out in order.
"""

from __future__ import annotations

import threading
from collections.abc import KeysView
from dataclasses import dataclass

from edgeinfer.pipeline.stats import StreamStats
from edgeinfer.sources.base import Frame


@dataclass
class _Slot:
    frame: Frame | None = None
    gated: bool = False
    busy: bool = False
    stats: StreamStats | None = None


class FrameHub:
    """The latest pending frame of each stream, handed to workers round-robin."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._order: list[str] = []
        self._next = 0
        self._cond = threading.Condition()
        self._closed = False

    def add_stream(self, name: str, stats: StreamStats) -> None:
        """Register a stream before frames are put for it."""
        with self._cond:
            self._slots[name] = _Slot(stats=stats)
            self._order.append(name)

    def put(self, frame: Frame, gated: bool = False, wait: bool = False) -> None:
        """Offer ``frame``; a frame still waiting for this stream is dropped.

        A gated frame that replaces an ungated one inherits the need to run, so a
        change is never lost behind a still frame. With ``wait`` (a file replayed as
        fast as possible) the call blocks until the slot is free instead: nothing is
        dropped and no decoding is wasted on frames nobody will see.
        """
        with self._cond:
            slot = self._slots[frame.stream]
            while wait and slot.frame is not None and not self._closed:
                self._cond.wait(0.2)
            if slot.frame is not None:
                gated = gated and slot.gated
                if slot.stats is not None:
                    slot.stats.dropped += 1
            slot.frame, slot.gated = frame, gated
            self._cond.notify_all()

    def take(self, timeout: float = 0.2) -> tuple[Frame, bool] | None:
        """The next (frame, gated) of a stream no other worker holds, or None on
        timeout or close. Call ``release(stream)`` when done with it."""
        with self._cond:
            while not self._closed:
                n = len(self._order)
                for i in range(n):
                    name = self._order[(self._next + i) % n]
                    slot = self._slots[name]
                    if slot.frame is not None and not slot.busy:
                        self._next = (self._next + i + 1) % n
                        frame, gated = slot.frame, slot.gated
                        slot.frame, slot.busy = None, True
                        self._cond.notify_all()  # a waiting put may go on
                        return frame, gated
                if not self._cond.wait(timeout):
                    return None
            return None

    def release(self, stream: str) -> None:
        """Let workers take ``stream`` again."""
        with self._cond:
            self._slots[stream].busy = False
            self._cond.notify()

    def pending(self) -> int:
        """Frames waiting in slots or held by workers."""
        with self._cond:
            return sum(s.frame is not None or s.busy for s in self._slots.values())

    @property
    def streams(self) -> KeysView[str]:
        """Names of the registered streams."""
        return self._slots.keys()

    @property
    def closed(self) -> bool:
        """True once ``close`` was called."""
        return self._closed

    def close(self) -> None:
        """Wake every waiting worker; ``take`` returns None from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
