"""Latest-frame-wins slots, one per video stream, and the hub workers take from.

A slot holds at most one frame. Putting a frame into a full slot replaces the stale
one (counted as dropped): a slow model never builds a backlog. Up to ``depth`` frames of
a stream may be in the workers at once (one by default); ``finish`` hands their results
on in the order the frames were taken, so rules always see a stream's frames in order.

One lock guards the hub, with a condition per kind of waiter: a new frame (or room in
the workers for a stream) wakes one idle worker, a frame taken wakes only the source
waiting for that stream's slot. Waking every waiting thread on every change cost a
quarter of a millisecond of CPU per frame with four workers and four streams.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, KeysView
from dataclasses import dataclass, field
from typing import TypeVar

from edgeinfer.pipeline.stats import StreamStats
from edgeinfer.sources.base import Frame

T = TypeVar("T")


@dataclass
class _Slot:
    frame: Frame | None = None
    gated: bool = False
    busy: int = 0  # frames taken and not yet finished
    depth: int = 1
    stats: StreamStats | None = None
    taken: deque[int] = field(default_factory=deque)  # seqs in the order taken
    done: dict[int, object] = field(default_factory=dict)  # finished, not handed on
    emit: threading.Lock = field(default_factory=threading.Lock)
    # A put waiting for the slot waits here; the hub gives it the hub's lock.
    free: threading.Condition = field(default_factory=threading.Condition)


_FAILED = object()


class FrameHub:
    """The latest pending frame of each stream, handed to workers round-robin."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._order: list[str] = []
        self._next = 0
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # idle workers wait here
        self._closed = False

    def add_stream(self, name: str, stats: StreamStats, depth: int = 1) -> None:
        """Register a stream before frames are put for it; ``depth`` frames of it may
        be in the workers at once (more than one keeps several workers busy on a
        single stream)."""
        with self._lock:
            free = threading.Condition(self._lock)
            self._slots[name] = _Slot(stats=stats, depth=max(1, depth), free=free)
            self._order.append(name)

    def put(self, frame: Frame, gated: bool = False, wait: bool = False) -> None:
        """Offer ``frame``; a frame still waiting for this stream is dropped.

        A gated frame that replaces an ungated one inherits the need to run, so a
        change is never lost behind a still frame. With ``wait`` (a file replayed as
        fast as possible) the call blocks until the slot is free instead: nothing is
        dropped and no decoding is wasted on frames nobody will see.
        """
        with self._lock:
            slot = self._slots[frame.stream]
            while wait and slot.frame is not None and not self._closed:
                slot.free.wait(0.2)
            if slot.frame is not None:
                gated = gated and slot.gated
                if slot.stats is not None:
                    slot.stats.dropped += 1
            slot.frame, slot.gated = frame, gated
            self._ready.notify()

    def take(self, timeout: float = 0.2) -> tuple[Frame, bool] | None:
        """The next (frame, gated) of a stream with room in the workers, or None on
        timeout or close. Call ``finish`` (or ``release``) when done with it."""
        with self._lock:
            while not self._closed:
                n = len(self._order)
                for i in range(n):
                    name = self._order[(self._next + i) % n]
                    slot = self._slots[name]
                    if slot.frame is not None and slot.busy < slot.depth:
                        self._next = (self._next + i + 1) % n
                        frame, gated = slot.frame, slot.gated
                        slot.frame = None
                        slot.busy += 1
                        slot.taken.append(frame.seq)
                        slot.free.notify()
                        return frame, gated
                if not self._ready.wait(timeout):
                    return None
            return None

    def release(self, stream: str) -> None:
        """Done with the oldest frame taken of ``stream``, with nothing to hand on."""
        with self._lock:
            slot = self._slots[stream]
            if slot.taken:
                slot.taken.popleft()
            slot.busy = max(0, slot.busy - 1)
            self._ready.notify()  # the stream may have room for its waiting frame

    def finish(
        self, frame: Frame, result: T | None, deliver: Callable[[T], None]
    ) -> None:
        """Done with ``frame``: ``deliver`` its ``result`` (None: it failed) once
        every frame of the stream taken before it has been delivered.

        Whichever worker finishes the oldest outstanding frame delivers every result
        that is ready, in order, under the stream's own lock, so deliveries for one
        stream never overlap and other streams are never held up by them.
        """
        slot = self._slots[frame.stream]
        with self._lock:
            slot.done[frame.seq] = _FAILED if result is None else result
        with slot.emit:
            while True:
                with self._lock:
                    if not slot.taken or slot.taken[0] not in slot.done:
                        return
                    ready = slot.done.pop(slot.taken.popleft())
                    slot.busy -= 1
                    self._ready.notify()  # the stream may have room again
                if ready is not _FAILED:
                    deliver(ready)  # type: ignore[arg-type]

    def pending(self) -> int:
        """Frames waiting in slots or held by workers."""
        with self._lock:
            return sum(s.frame is not None or s.busy > 0 for s in self._slots.values())

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
        with self._lock:
            self._closed = True
            self._ready.notify_all()
            for slot in self._slots.values():
                slot.free.notify_all()
