"""Sending the outbox: a thread that hands stored messages to the connection in
order, at most ``window`` unacknowledged at a time, and deletes what the broker acks.

After every (re)connect it starts again from the oldest stored message: what was in
flight when the connection dropped is sent again (consumers drop duplicates by id),
and nothing is skipped.

paho calls ``on_acked`` holding the lock that ``publish`` needs, so the connection
events only go into a queue, and what maps packet ids to messages is changed only
under this sender's own lock, after ``publish`` has returned: no early ack is missed
and nothing deadlocks.

``offer`` is the fast path for a message just stored: when everything stored before
it has been handed over already, the caller's thread publishes it at once, without
waking this thread or reading it back from the outbox. Otherwise it only wakes the
thread, which sends in outbox order.

``holding_acks`` keeps acknowledged messages in the outbox until the block ends: the
daemon records an alert in its alert log while the alert is on its way, and until it
has, the outbox's copy is the one on the device.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable

from edgeinfer.mqtt.messages import Message
from edgeinfer.mqtt.outbox import Outbox

log = logging.getLogger(__name__)

Publish = Callable[[Message], "int | None"]
_CONNECTED, _DISCONNECTED = -1, -2  # event markers next to packet ids


class OutboxSender:
    """Moves messages from an ``Outbox`` to a ``publish`` function and acks back."""

    def __init__(self, outbox: Outbox, publish: Publish, window: int = 20) -> None:
        self.outbox = outbox
        self.publish = publish
        self.window = window
        self.refused = 0  # messages the broker acknowledged with an error
        self._events: collections.deque[tuple[int, str]] = collections.deque()
        self._wake = threading.Event()
        self._more = True  # the outbox may hold messages not handed over yet
        self._online = False
        self._lock = threading.Lock()  # guards what follows, and publishing
        self._acks_held = threading.Lock()  # held: acked messages stay in the outbox
        self._inflight: dict[int, int] = {}  # packet id -> outbox seq
        self._handed: set[int] = set()  # seqs handed over since the last connect
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the sending thread."""
        self._thread = threading.Thread(target=self._run, name="mqtt-out", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread after storing the acks received so far."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self) -> None:
        """A message was stored: send it when there is room."""
        self._more = True
        self._wake.set()

    def offer(self, message: Message, seq: int) -> None:
        """``message`` was just stored as ``seq``: publish it from this thread if it
        is next in line, else leave it to the sending thread.

        Callers store and offer under one lock, so messages are offered in the order
        of their sequence numbers.
        """
        if self._lock.acquire(blocking=False):
            try:
                if self._next_in_line(seq) and self._hand_over(message, seq):
                    return
                self._more = True
            finally:
                self._lock.release()
        else:
            self._more = True
        self._wake.set()

    def _next_in_line(self, seq: int) -> bool:
        # Not ``_more``: every message stored before this one was handed over.
        return (
            self._online
            and not self._more
            and not self._events
            and len(self._inflight) < self.window
            and seq not in self._handed
        )

    def _hand_over(self, message: Message, seq: int) -> bool:
        mid = self.publish(message)
        if mid is None:  # disconnected meanwhile: the connect event resumes
            return False
        self._inflight[mid] = seq
        self._handed.add(seq)
        return True

    def holding_acks(self) -> threading.Lock:
        """For ``with``: acknowledged messages stay in the outbox until the block ends
        (the broker's acks are noted meanwhile and applied after it)."""
        return self._acks_held

    @property
    def caught_up(self) -> bool:
        """Online, with every stored message handed over to the connection."""
        return self._online and not self._more

    def inflight(self) -> int:
        """Messages handed over and not acknowledged yet."""
        return len(self._inflight)

    # -- connection events (network thread): queue them, nothing else -----------------
    def on_connected(self) -> None:
        """Start over from the oldest stored message."""
        self._events.append((_CONNECTED, ""))
        self._wake.set()

    def on_disconnected(self) -> None:
        """Stop handing over messages until the next connect."""
        self._events.append((_DISCONNECTED, ""))
        self._wake.set()

    def on_acked(self, mid: int, error: str) -> None:
        """The broker acked packet ``mid`` (refused it if ``error``)."""
        self._events.append((mid, error))
        self._wake.set()

    # -- the thread -----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                with self._lock:
                    acked = self._drain_events()
                if acked:
                    with self._acks_held:
                        self.outbox.ack(acked)
                if self._stop.is_set():
                    return
                with self._lock:
                    self._fill()
            except Exception:  # a stage boundary: log and keep the sender alive
                log.exception("outbox sender failed; retrying in 1 s")
                self._stop.wait(1.0)
                self._more = True
                continue
            self._wake.wait(1.0)

    def _drain_events(self) -> list[int]:
        acked: list[int] = []
        while self._events:
            mid, error = self._events.popleft()
            if mid == _CONNECTED:
                self._online, self._more = True, True
                self._inflight.clear()
                self._handed.clear()
            elif mid == _DISCONNECTED:
                self._online = False
            elif (seq := self._inflight.pop(mid, None)) is not None:
                if error:
                    # Sent again it would be refused again (an ACL, a quota): drop it.
                    self.refused += 1
                    log.error("broker refused outbox message %d: %s", seq, error)
                acked.append(seq)
                self._handed.discard(seq)
                self._more = True
        return acked

    def _fill(self) -> None:
        room = self.window - len(self._inflight)
        if not (self._online and self._more and room > 0):
            return
        self._more = False  # a notify from now on sets it again
        batch = self.outbox.pending(room, self._handed)
        for message in batch:
            if not self._hand_over(message, message.seq):
                self._more = True
                return
        if len(batch) == room:
            self._more = True  # there may be more once acks make room
