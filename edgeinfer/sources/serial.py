"""Serial sensor streams: delimited lines from a port, parsed into readings.

pyserial's ``serial_for_url`` opens the port, so a device path (``/dev/ttyUSB0``),
``loop://``, ``socket://host:port`` and ``rfc2217://host:port`` all work. The port is
read with a short timeout so ``stop()`` is prompt. Every reading goes to the sink in
order; a sink that blocks (a full queue downstream) holds the reader back rather than
losing data. A malformed line is counted and skipped, and an unplugged port is closed
and reopened with backoff until it comes back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import time
from collections.abc import Callable

import serial

try:
    from serial.serialposix import Serial as PosixSerial
except ImportError:  # not a POSIX system: pyserial's own read everywhere
    PosixSerial = None

from edgeinfer.sources.base import Backoff, Health, Reading
from edgeinfer.sources.parse import LineSpec, parse_line
from edgeinfer.sources.threaded import ThreadedSource

log = logging.getLogger(__name__)

PortOpener = Callable[[str, int, float], serial.SerialBase]
"""Opens ``(url, baud, read timeout in s)`` as a pyserial port, or raises OSError."""


def open_serial(url: str, baud: int, timeout: float) -> serial.SerialBase:
    """Open ``url`` (a device path or a pyserial URL) with a read timeout (s)."""
    return serial.serial_for_url(url, baudrate=baud, timeout=timeout)


def chunk_reader(port: serial.SerialBase, timeout: float) -> Callable[[], bytes]:
    """A function returning what ``port`` has received, waiting up to ``timeout`` s
    for the first byte (``b""`` if none came).

    A device on this system is read with one ``select`` and one ``read`` of all that
    is there, so a line arrives whole in one call; other ports (``loop://``,
    ``socket://``, ``rfc2217://``) through pyserial's ``read``.
    """
    if PosixSerial is None or not isinstance(port, PosixSerial) or port.fd is None:
        return lambda: port.read(port.in_waiting or 1)
    fd = port.fd

    def read() -> bytes:
        if not select.select([fd], [], [], timeout)[0]:
            return b""
        try:
            data = os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        if not data:  # readable with nothing to read: the device went away
            raise serial.SerialException(f"{port.port} returned no data: unplugged?")
        return data

    return read


class SerialSource(ThreadedSource):
    """Readings from a serial port, one per delimited line.

    ``delimiter`` frames lines (``\\r`` around a line is stripped), a line longer
    than ``max_line`` bytes is garbage up to the next delimiter, ``spec`` says how a
    line is parsed. Host timestamps are ``time.time()`` when the line's end was read.
    ``opener`` opens the port (tests pass a loopback port's ``open``).
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
        self._opener = opener
        self._units = self.spec.units
        self._seq = 0

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
            self._set_health(Health.OK, f"{self.port} open at {self.baud} baud")
            try:
                self._read_port(port)
            except OSError as err:  # SerialException is an OSError: unplugged
                self._offline(f"lost {self.port}: {err}")
            finally:
                with contextlib.suppress(OSError):
                    port.close()

    def _offline(self, reason: str) -> None:
        delay = self.backoff.next()
        self._set_health(
            Health.OFFLINE,
            f"{reason} (attempt {self.backoff.attempts}, retry in {delay:.1f} s)",
        )
        self._stop.wait(delay)

    def _read_port(self, port: serial.SerialBase) -> None:
        buf = bytearray()
        discarding = False  # inside an over-long line, until the next delimiter
        delimiter, step = self.delimiter, len(self.delimiter)
        read = chunk_reader(port, self.read_timeout_s)
        try:
            while not self._stop.is_set():
                chunk = read()
                if not chunk:
                    continue
                now = time.time()
                buf += chunk
                start = 0
                while (end := buf.find(delimiter, start)) >= 0:
                    if not discarding:
                        self._on_line(bytes(buf[start:end]), now)
                    discarding, start = False, end + step
                del buf[:start]
                if len(buf) > self.max_line:
                    if not discarding:
                        self.stats.read += 1
                        self._malformed(bytes(buf), "over-long line")
                    discarding = True
                    buf.clear()
        except OSError:
            if buf and not discarding:
                self._malformed(bytes(buf), "partial line cut by disconnect")
            raise

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
        self.sink(reading)  # may block: back-pressure from a full queue
        self.stats.delivered += 1

    def _malformed(self, line: bytes, reason: str) -> None:
        self.stats.malformed += 1
        log.debug("source %s: skipped a line (%s): %r", self.name, reason, line[:80])
