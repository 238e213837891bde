"""Serial sensor streams: delimited lines from a port, parsed into readings.

pyserial's ``serial_for_url`` opens the port, so a device path (``/dev/ttyUSB0``),
``loop://``, ``socket://host:port`` and ``rfc2217://host:port`` all work. The port is
read with a short timeout so ``stop()`` is prompt. Every reading goes to the sink in
order, from the thread that read it, while a second thread keeps reading the port; a
sink that falls behind holds the reading back rather than losing data. A malformed
line is counted and skipped, and an unplugged port is closed and reopened with
backoff until it comes back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable

import serial
from serial.urlhandler.protocol_socket import Serial as SocketSerial

try:
    import fcntl

    from serial.serialposix import Serial as PosixSerial
except ImportError:  # not a POSIX system: pyserial's own read everywhere
    PosixSerial = None

from edgeinfer.sources.base import Backoff, Health, Reading
from edgeinfer.sources.ordered import OrderedSink
from edgeinfer.sources.parse import LineSpec, parse_line
from edgeinfer.sources.threaded import ThreadedSource

log = logging.getLogger(__name__)

PortOpener = Callable[[str, int, float], serial.SerialBase]
"""Opens ``(url, baud, read timeout in s)`` as a pyserial port, or raises OSError."""


def open_serial(url: str, baud: int, timeout: float) -> serial.SerialBase:
    """Open ``url`` (a device path or a pyserial URL) with a read timeout (s)."""
    return serial.serial_for_url(url, baudrate=baud, timeout=timeout)


class PortReader:
    """Waits for and reads what ``port`` has received, for several threads.

    Each thread waits with its own ``waiter()`` and then reads with ``read`` holding
    the caller's lock. A device on Linux is waited for with an epoll of each thread's
    own, registered exclusively: new bytes wake one waiting thread, not all of them,
    and a thread that is busy delivering does not take the wake-up from the other.
    Elsewhere a device is waited for with ``select`` (both threads wake; the one that
    comes second finds nothing to read). A port without a descriptor of its own
    (``loop://``, ``rfc2217://``) is read through pyserial's ``read``, which waits
    itself, so the read lock passes the port from thread to thread; ``socket://`` is
    a non-blocking TCP socket, waited for and read as a device is.
    """

    def __init__(self, port: serial.SerialBase, timeout: float) -> None:
        self.port, self.timeout = port, timeout
        self.fd: int | None = None
        posix = PosixSerial is not None and isinstance(port, PosixSerial)
        # pyserial's VTIMESerial reads in blocking mode: it is read through pyserial
        if posix and port.fd and fcntl.fcntl(port.fd, fcntl.F_GETFL) & os.O_NONBLOCK:
            self.fd = port.fd
        elif isinstance(port, SocketSerial):  # a serial device server's TCP port
            self.fd = port.fileno()  # pyserial made it non-blocking

    def waiter(self) -> PortWaiter:
        """How one thread waits for bytes to read (close it when done)."""
        return PortWaiter(self.fd, self.timeout)

    def read(self) -> bytes:
        """What has arrived (``b""`` if another thread read it first); raises
        ``SerialException`` when the device has gone. Callers hold the read lock."""
        fd = self.fd
        if fd is None:
            port = self.port
            return bytes(port.read(port.in_waiting or 1))
        try:
            data = os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        # Nothing: another thread read it first (pyserial's port settings make an
        # empty read return nothing rather than wait), or the device went away.
        if not data and _hung_up(fd):
            raise serial.SerialException(
                f"{self.port.port} hung up (unplugged, or its server closed the "
                "connection)"
            )
        return data


class PortWaiter:
    """One thread's wait for bytes on a port: ``wait()`` returns True when there
    may be some, False after ``timeout`` s without."""

    def __init__(self, fd: int | None, timeout: float) -> None:
        self.fd, self.timeout = fd, timeout
        self._epoll: select.epoll | None = None
        if fd is not None and _EXCLUSIVE:
            self._epoll = select.epoll(1)
            self._epoll.register(fd, select.EPOLLIN | _EXCLUSIVE)

    def wait(self) -> bool:
        """Until bytes may be there, or the timeout."""
        if self._epoll is not None:
            return bool(self._epoll.poll(self.timeout))
        if self.fd is None:
            return True  # pyserial's read does the waiting
        return bool(select.select([self.fd], [], [], self.timeout)[0])

    def close(self) -> None:
        """Release the epoll (the port stays open)."""
        if self._epoll is not None:
            self._epoll.close()


_EXCLUSIVE = getattr(select, "EPOLLEXCLUSIVE", 0) if hasattr(select, "epoll") else 0
# POLLRDHUP: a TCP peer closed its end (a socket, unlike a tty, shows no POLLHUP then)
_RDHUP = getattr(select, "POLLRDHUP", 0)
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL | _RDHUP


def _hung_up(fd: int) -> bool:
    poll = select.poll()
    poll.register(fd, select.POLLIN | _RDHUP)
    return any(event & _GONE for _, event in poll.poll(0))


class SerialSource(ThreadedSource):
    """Readings from a serial port, one per delimited line.

    ``delimiter`` frames lines (``\\r`` around a line is stripped), a line longer
    than ``max_line`` bytes is garbage up to the next delimiter, ``spec`` says how a
    line is parsed. Host timestamps are ``time.time()`` when the line's end was read.
    ``opener`` opens the port (tests pass a loopback port's ``open``).

    Two threads take turns at the port. The one that reads a line calls ``sink`` with
    the reading itself, at once, and the other waits at the port meanwhile: a sink
    that takes its time (a rule, an alert stored and sent) never leaves the port
    unread, and lines that arrive meanwhile are stamped when they arrive. ``sink`` is
    called one reading at a time, in the order read (``OrderedSink``); at most
    ``queue_size`` readings wait for it, then the port is read no further until
    there is room (back-pressure: the bytes wait in the driver's buffer).
    """

    _log = log

    def __init__(
        self,
        name: str,
        port: str,
        sink: Callable[[Reading], None],
        *,
        baud: int = 115200,
        spec: LineSpec | None = None,
        delimiter: bytes = b"\n",
        max_line: int = 4096,
        read_timeout_s: float = 0.1,
        queue_size: int = 10_000,
        low_latency: bool = True,
        opener: PortOpener = open_serial,
        backoff: Backoff | None = None,
    ) -> None:
        if not delimiter:
            raise ValueError("the line delimiter must not be empty")
        super().__init__(name, backoff)
        self.port, self.baud, self.sink = port, baud, sink
        self.spec = spec or LineSpec()
        self.delimiter, self.max_line = delimiter, max_line
        self.read_timeout_s = read_timeout_s
        self.low_latency = low_latency
        self._opener = opener
        self._units = self.spec.units
        self._seq = 0
        self._out: OrderedSink[Reading] = OrderedSink(self._deliver, queue_size)
        self._read_lock = threading.Lock()  # guards the port's reads and what follows
        self._buf = bytearray()  # the start of a line not ended yet
        self._discarding = False  # inside an over-long line, until the next delimiter

    @property
    def queued(self) -> int:
        """Readings read and waiting for the sink."""
        return len(self._out)

    def _run(self) -> None:
        opened_before = False
        while not self._stop.is_set():
            try:
                port = self._opener(self.port, self.baud, self.read_timeout_s)
            except (OSError, ValueError) as err:
                self._offline(f"cannot open {self.port}: {err}")
                continue
            if opened_before:
                self.stats.reconnects += 1
            opened_before = True
            self.backoff.reset()
            mode = " in low-latency mode" if self._ask_low_latency(port) else ""
            self._set_health(Health.OK, f"{self.port} open at {self.baud} baud{mode}")
            try:
                self._read_port(port)
            except OSError as err:  # SerialException is an OSError: unplugged
                self._offline(f"lost {self.port}: {err}")
            finally:
                with contextlib.suppress(OSError):
                    port.close()

    def _ask_low_latency(self, port: serial.SerialBase) -> bool:
        """Set the driver's low-latency flag (``ASYNC_LOW_LATENCY``) if asked to;
        True if it took. A USB serial adapter holds received bytes until its buffer
        fills or its latency timer runs out: 16 ms by default on an FTDI, 1 ms with
        the flag. A pseudo-terminal or a URL port has no such flag."""
        if not self.low_latency:
            return False
        try:
            port.set_low_latency_mode(True)
        except (AttributeError, NotImplementedError, ValueError, OSError) as err:
            log.debug(
                "source %s: no low-latency mode on %s: %s", self.name, self.port, err
            )
            return False
        return True

    def _offline(self, reason: str) -> None:
        delay = self.backoff.next()
        self._set_health(
            Health.OFFLINE,
            f"{reason} (attempt {self.backoff.attempts}, retry in {delay:.1f} s)",
        )
        self._stop.wait(delay)

    def _read_port(self, port: serial.SerialBase) -> None:
        """Read ``port`` on this thread and a partner until stopped or one of them
        fails; the failure (an unplugged port) propagates once both have ended."""
        self._buf.clear()
        self._discarding = False
        reader = PortReader(port, self.read_timeout_s)
        closing = threading.Event()
        failed: list[BaseException] = []
        partner = threading.Thread(
            target=self._partner,
            args=(reader, closing, failed),
            name=f"source-{self.name}-2",
            daemon=True,
        )
        partner.start()
        try:
            self._pump(reader, closing)
        except BaseException as err:
            failed.insert(0, err)
        finally:
            closing.set()
            partner.join()
        if failed:
            if isinstance(failed[0], OSError) and self._buf and not self._discarding:
                self._malformed(bytes(self._buf), "partial line cut by disconnect")
            raise failed[0]

    def _partner(
        self, reader: PortReader, closing: threading.Event, failed: list[BaseException]
    ) -> None:
        try:
            self._pump(reader, closing)
        except BaseException as err:  # handed to the source's own thread
            failed.append(err)
            closing.set()

    def _pump(self, reader: PortReader, closing: threading.Event) -> None:
        waiter = reader.waiter()
        out, timeout = self._out, self.read_timeout_s
        try:
            while not (self._stop.is_set() or closing.is_set()):
                if not out.wait_for_room(timeout) or not waiter.wait():
                    continue
                with self._read_lock:
                    if closing.is_set():
                        return
                    chunk = reader.read()
                    if chunk:
                        self._frame(chunk, time.time())
                out.deliver()
        finally:
            waiter.close()

    def _frame(self, chunk: bytes, now: float) -> None:
        """Queue the lines ``chunk`` ends, received at ``now`` (under the lock)."""
        buf = self._buf
        buf += chunk
        delimiter, step = self.delimiter, len(self.delimiter)
        start = 0
        while (end := buf.find(delimiter, start)) >= 0:
            if not self._discarding:
                self._on_line(bytes(buf[start:end]), now)
            self._discarding, start = False, end + step
        del buf[:start]
        if len(buf) > self.max_line:
            if not self._discarding:
                self.stats.read += 1
                self._malformed(bytes(buf), "over-long line")
            self._discarding = True
            buf.clear()

    def _on_line(self, line: bytes, now: float) -> None:
        self.stats.read += 1
        if len(line) > self.max_line:
            self._malformed(line, "over-long line")
            return
        try:
            parsed = parse_line(line, self.spec)
        except ValueError as err:
            self._malformed(line, str(err))
            return
        if parsed is None:
            return
        stamp = now if parsed.device_time is None else parsed.device_time
        reading = Reading(
            self.name,
            self._seq,
            stamp,
            parsed.values,
            parsed.source_time,
            dict(self._units),
        )
        self._seq += 1
        self._out.put(reading)

    def _deliver(self, reading: Reading) -> None:
        self.sink(reading)
        self.stats.delivered += 1

    def _malformed(self, line: bytes, reason: str) -> None:
        self.stats.malformed += 1
        log.debug("source %s: skipped a line (%s): %r", self.name, reason, line[:80])
