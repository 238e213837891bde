"""paho's client, driven by a network loop of this package's own.

Any thread that publishes writes its packet to the socket itself (``write_now``), so
that it leaves at once rather than after the network thread has woken up for it.
Reads and writes take turns under one lock: paho alone does not keep two writers
apart, and a TLS session must not read and write at once. A publisher that finds the
socket busy leaves its packet queued and wakes the network thread (``wake``), which
writes it. The loop (``turn``) is a ``select`` over paho's ``loop_read``,
``loop_write`` and ``loop_misc`` (paho's external-loop interface), so that paho does
not wake the network thread for every packet a publisher has written already.
Nagle's algorithm is off on the socket: a packet leaves when it is written.

What the broker sends is read ``READ_DELAY_S`` after it arrives, not at once: acks
and commands, on which nothing waits. On a device that also runs the broker and its
local subscribers (a gateway), the ack of an alert arrives in the very moment the
broker delivers the alert; reading it then put the daemon on a CPU, and its network
thread on the GIL, just as the subscriber and the rest of the alert's own work
needed them. Acks that arrive together are read together. A wake-up (a packet to
write) ends the delay at once: writing is never delayed.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties

READ_DELAY_S = 0.002
"""How long what the broker sent waits before it is read (see above)."""


class Client(paho.Client):
    """paho's client with the socket's reads and writes under one lock, a wake-up
    for its network thread, and paho's errors handed to ``on_error`` (the text that
    explains a dropped socket). The lock is re-entrant: paho writes from inside its
    reads (after a CONNACK)."""

    def __init__(
        self, *args: Any, on_error: Callable[[str], None], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._io = threading.RLock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        # paho formats a log line for every packet when a logger takes them; one at
        # ERROR formats only errors.
        self.enable_logger(_ErrorLogger(on_error))
        # With a write callback set, paho's ``publish`` only queues the packet: the
        # publisher writes it with ``write_now``, under the lock.
        self.on_socket_register_write = _ignore_socket
        self.on_socket_open = no_delay

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's read, in turn with every write."""
        with self._io:
            return super().loop_read(max_packets)

    def loop_write(self) -> MQTTErrorCode:
        """paho's write, in turn with every read and other write."""
        with self._io:
            return super().loop_write()

    def write_now(self) -> bool:
        """Write the queued packets from this thread, unless another thread is at the
        socket; False if packets are left (``wake`` the network thread for them).
        Never waits; a failed write closes the session as it would on the network
        thread."""
        if not self._io.acquire(blocking=False):
            return False
        try:
            super().loop_write()
            return not self.want_write()
        finally:
            self._io.release()

    def wake(self) -> None:
        """Make the network thread's ``turn`` return soon (it writes what is queued)."""
        with contextlib.suppress(OSError):  # full: a wake-up is pending already
            self._wake_w.send(b"\0")

    def turn(self, timeout: float) -> MQTTErrorCode:
        """One turn of the network loop: wait up to ``timeout`` s for the socket or a
        wake-up, then read, write what is queued, and keep the session alive."""
        sock = self.socket()
        if sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        # TLS may hold decrypted bytes that select cannot see
        buffered = sock.pending() if hasattr(sock, "pending") else 0
        wake = self._wake_r
        writes = [sock] if self.want_write() else []
        try:
            readable, writable, _ = select.select(
                [sock, wake], writes, [], 0.0 if buffered else timeout
            )
        except (OSError, ValueError):  # closed meanwhile by a failed write
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if sock in readable and not buffered and wake not in readable:
            # let what arrived wait (see above), unless a write comes up; the wake-up
            # stays open while the loop runs
            readable += select.select([wake], [], [], READ_DELAY_S)[0]
        if wake in readable:
            with contextlib.suppress(OSError):
                wake.recv(4096)
        if sock in readable or buffered:
            rc = self.loop_read()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self.socket() is None:
                return rc
        if sock in writable or self.want_write():
            rc = self.loop_write()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self.socket() is None:
                return rc
        return self.loop_misc()

    def close_loop(self) -> None:
        """Close the wake-up (the network thread has ended; ``wake`` is a no-op)."""
        self._wake_r.close()
        self._wake_w.close()


class PackedOnce(Properties):
    """Properties shared by many messages and never changed: packed once, not per
    message (paho's ``pack`` walks every property name it knows)."""

    _packed: bytes | None = None

    def pack(self) -> bytes:
        packed = self._packed
        if packed is None:
            packed = bytes(super().pack())  # type: ignore[no-untyped-call]
            # paho's __setattr__ admits MQTT property names only
            object.__setattr__(self, "_packed", packed)
        return packed


class _ErrorLogger(logging.Logger):
    """paho's logger: hands errors on, formats nothing else."""

    def __init__(self, on_error: Callable[[str], None]) -> None:
        super().__init__("edgeinfer.mqtt.paho", logging.ERROR)
        self.propagate = False
        self.addHandler(_ErrorHandler(on_error))


class _ErrorHandler(logging.Handler):
    def __init__(self, on_error: Callable[[str], None]) -> None:
        super().__init__(logging.ERROR)
        self.on_error = on_error

    def emit(self, record: logging.LogRecord) -> None:
        self.on_error(record.getMessage())


def _ignore_socket(_client: paho.Client, _userdata: Any, _sock: Any) -> None:
    """The write callback that keeps paho from writing in ``publish``."""


def no_delay(_client: paho.Client, _userdata: Any, sock: Any) -> None:
    """paho's ``on_socket_open``: turn Nagle's algorithm off (paho leaves it on).

    With it, a small packet written while an earlier one is unacknowledged waits for
    that acknowledgement: a round trip to the broker, or the broker's delayed ACK
    (40 ms on Linux) after a QoS 0 message, which has no PUBACK to carry it. Every
    message here is small and wanted at once.
    """
    with contextlib.suppress(OSError, AttributeError):  # not TCP (a Unix socket)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
