"""A local action on alerts: one line to a serial port, for a buzzer, a stack light or
a PLC input that has no network.

Alerts are queued and written by the sink's own thread, so a slow or unplugged port
never holds up the pipeline. The port is (re)opened with capped backoff; a line that
could not be written is retried after the reopen, and only a full queue loses lines,
counted. The durable record of an alert is the alert log, not this line.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from typing import Any

import serial

from edgeinfer.rules.alert import Alert, Severity
from edgeinfer.sources.base import Backoff

log = logging.getLogger(__name__)

DEFAULT_LINE = "ALERT {severity} {stream} {rule}"
_SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}


class _Blank(dict[str, Any]):
    """Format fields an alert does not have as empty text rather than failing."""

    def __missing__(self, key: str) -> str:
        return ""


def format_line(template: str, alert: Alert) -> str:
    """``template`` filled with the alert's fields and its values (``{score}``)."""
    data = alert.to_json()
    fields = _Blank({**data.get("values", {}), **data})
    fields.pop("values", None)
    return template.format_map(fields).replace("\n", " ").replace("\r", " ")


class SerialActionSink:
    """Writes ``line`` (a ``str.format`` template) for every alert at or above
    ``min_severity`` to ``port`` (a device path or a pyserial URL such as
    ``loop://``)."""

    def __init__(
        self,
        port: str,
        baud: int = 9600,
        *,
        line: str = DEFAULT_LINE,
        min_severity: Severity = "warning",
        queue_size: int = 256,
        backoff: Backoff | None = None,
    ) -> None:
        self.port, self.baud, self.template = port, baud, line
        self.min_level = _SEVERITY_ORDER[min_severity]
        self.sent = 0
        self.dropped = 0
        self.failures = 0
        self.serial: serial.SerialBase | None = None
        self._queue: queue.Queue[str | None] = queue.Queue(queue_size)
        self._stop = threading.Event()
        self._backoff = backoff or Backoff(initial=0.5, cap=30.0)
        self._thread = threading.Thread(
            target=self._run, name=f"alert-serial-{port}", daemon=True
        )
        self._thread.start()

    def on_result(self, inference: Any) -> None:
        """Results are not actions."""

    def on_alert(self, alert: Alert) -> None:
        """Queue the alert's line (never blocks; a full queue drops and counts)."""
        if _SEVERITY_ORDER[alert.severity] < self.min_level:
            return
        try:
            self._queue.put_nowait(format_line(self.template, alert) + "\n")
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued (for up to ``timeout`` s), then close the port."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self._stop.set()
        self._thread.join(1.0)
        if self.serial is not None:
            self.serial.close()

    def _open(self) -> bool:
        try:
            self.serial = serial.serial_for_url(
                self.port, baudrate=self.baud, timeout=1, write_timeout=2
            )
        except (serial.SerialException, OSError, ValueError) as err:
            self.failures += 1
            if self._backoff.attempts == 0:
                log.warning("alert action: cannot open %s: %s", self.port, err)
            return False
        self._backoff.reset()
        return True

    def _run(self) -> None:
        pending: str | None = None
        while not self._stop.is_set():
            if pending is None:
                item = self._queue.get()
                if item is None:
                    return
                pending = item
            if self.serial is None and not self._open():
                if self._backoff.wait(self._stop):
                    return
                continue
            assert self.serial is not None
            try:
                self.serial.write(pending.encode("utf-8", "replace"))
                self.serial.flush()
            except (serial.SerialException, OSError) as err:
                self.failures += 1
                log.warning("alert action: write to %s failed: %s", self.port, err)
                self.serial.close()
                self.serial = None
                continue  # reopen and write the same line again
            self.sent += 1
            pending = None
