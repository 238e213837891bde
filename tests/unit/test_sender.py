"""The outbox sender: a just-stored message leaves from the storing thread when
nothing older waits, and everything else leaves from the sender's thread in order.

The publish function stands for the broker connection (tested against Mosquitto in
the integration tests); here it records what was handed over and by which thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from edgeinfer.mqtt.messages import Message, json_message
from edgeinfer.mqtt.outbox import Outbox
from edgeinfer.mqtt.sender import OutboxSender


class Wire:
    """Hands out packet ids; keeps (message id, thread name) per publish."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.up = True
        self.attempts = 0
        self._mid = 0

    def publish(self, message: Message) -> int | None:
        self.attempts += 1
        if not self.up:
            return None
        self._mid += 1
        self.sent.append((message.id, threading.current_thread().name))
        return self._mid


def stored(box: Outbox, n: int) -> Message:
    message = json_message("dev/alerts", "alert", {"n": n})
    return replace(message, seq=box.put(message).seq)


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@dataclass
class Line:
    """An outbox, the wire it is sent on, and the sender between them (running)."""

    box: Outbox
    wire: Wire
    sender: OutboxSender


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Line]:
    box, wire = Outbox(tmp_path / "outbox.db"), Wire()
    sender = OutboxSender(box, wire.publish, window=1000)
    sender.start()
    yield Line(box, wire, sender)
    sender.stop()
    box.close()


def connected(line: Line) -> None:
    line.sender.on_connected()
    wait_for(lambda: line.sender.caught_up)


def test_a_message_offered_when_nothing_older_waits_leaves_from_the_caller(
    line: Line,
) -> None:
    connected(line)
    message = stored(line.box, 1)
    line.sender.offer(message, message.seq)
    assert line.wire.sent == [(message.id, threading.current_thread().name)]
    line.sender.on_acked(1, "")
    wait_for(lambda: len(line.box) == 0)


def test_offers_while_offline_leave_in_order_from_the_sender_after_connecting(
    line: Line,
) -> None:
    box, wire, sender = line.box, line.wire, line.sender
    messages = []
    for n in range(5):
        messages.append(stored(box, n))
        sender.offer(messages[-1], messages[-1].seq)
    assert wire.sent == []
    sender.on_connected()
    wait_for(lambda: len(wire.sent) == 5)
    assert [mid for mid, _ in wire.sent] == [m.id for m in messages]
    assert {thread for _, thread in wire.sent} == {"mqtt-out"}
    # Caught up again: the next one leaves from the caller, after the rest.
    last = stored(box, 5)
    wait_for(lambda: sender.caught_up)
    sender.offer(last, last.seq)
    assert wire.sent[-1] == (last.id, threading.current_thread().name)


def test_an_offer_never_overtakes_an_older_message(line: Line) -> None:
    """Two threads store and offer under one lock (as the fleet link does) while
    the connection drops and returns: every message is handed over in seq order
    between two connects, none is lost."""
    box, wire, sender = line.box, line.wire, line.sender
    lock = threading.Lock()
    ids: list[str] = []

    def produce(base: int) -> None:
        for n in range(100):
            with lock:
                message = stored(box, base + n)
                ids.append(message.id)
                sender.offer(message, message.seq)

    sender.on_connected()
    threads = [threading.Thread(target=produce, args=(b,)) for b in (0, 1000)]
    for t in threads:
        t.start()
    time.sleep(0.005)
    wire.up = False
    sender.on_disconnected()
    time.sleep(0.01)
    wire.up = True
    sender.on_connected()
    for t in threads:
        t.join()
    sender.notify()
    wait_for(lambda: set(ids) <= {mid for mid, _ in wire.sent})
    order = {mid: i for i, mid in enumerate(ids)}
    first_seen = list(dict.fromkeys(mid for mid, _ in wire.sent))
    assert sorted(first_seen, key=order.__getitem__) == first_seen


def test_an_offer_waits_behind_a_message_the_connection_did_not_take(
    line: Line,
) -> None:
    box, wire, sender = line.box, line.wire, line.sender
    connected(line)
    wire.up = False  # the socket refuses writes for a moment: no event says so
    first = stored(box, 1)
    sender.offer(first, first.seq)
    wait_for(lambda: wire.attempts == 2)  # from this thread, then the sender's
    wire.up = True
    second = stored(box, 2)
    sender.offer(second, second.seq)
    wait_for(lambda: len(wire.sent) == 2)
    assert [mid for mid, _ in wire.sent] == [first.id, second.id]


def test_acknowledged_messages_stay_in_the_outbox_while_acks_are_held(
    line: Line,
) -> None:
    connected(line)
    message = stored(line.box, 1)
    with line.sender.holding_acks():  # as the daemon holds them while it logs an alert
        line.sender.offer(message, message.seq)
        line.sender.on_acked(1, "")
        time.sleep(0.3)
        assert len(line.box) == 1  # acknowledged, and still kept
    wait_for(lambda: len(line.box) == 0)
