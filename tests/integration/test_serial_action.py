"""The serial alert action over a real pty pair: lines arrive, low severities are left
out, and a line written while the adapter is unplugged arrives after it is back."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from pathlib import Path

import pytest

from edgeinfer.app import Daemon
from edgeinfer.config import load_config
from edgeinfer.rules.alert import Alert
from edgeinfer.sinks.serial_action import SerialActionSink, format_line
from edgeinfer.sources.base import Backoff
from tests.integration.test_serial import SocatPair, socat, wait_for

__all__ = ["socat"]  # the fixture, used by name
pytestmark = pytest.mark.integration


def alert(severity: str, rule: str, score: float) -> Alert:
    return Alert("line1", rule, severity, 1_700_000_000.0, {"score": score})  # type: ignore[arg-type]


class PtyReader:
    """The far end of the pty pair, read without pyserial: pyserial's open flushes
    what arrived before it, and the sink may well write before the test opens."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        self._buffer = b""

    def lines(self, n: int, timeout: float = 10) -> list[str]:
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            while b"\n" in self._buffer and len(out) < n:
                line, self._buffer = self._buffer.split(b"\n", 1)
                out.append(line.decode())
            if len(out) < n and select.select([self.fd], [], [], 0.1)[0]:
                with contextlib.suppress(BlockingIOError):
                    self._buffer += os.read(self.fd, 4096)
        return out

    def close(self) -> None:
        """Close once: a second close could hit a descriptor reused since."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def test_format_line_fills_alert_fields_and_values() -> None:
    line = format_line(
        "{severity}:{rule}:{score}:{missing}", alert("critical", "r", 0.9)
    )
    assert line == "critical:r:0.9:"


def test_alert_lines_reach_the_port_and_survive_an_unplug(
    socat: SocatPair, tmp_path: Path
) -> None:
    sink = SerialActionSink(
        socat.a,
        line="ALERT {severity} {stream}/{rule} {score}",
        min_severity="warning",
        backoff=Backoff(initial=0.05, cap=0.2),
    )
    reader = PtyReader(socat.b)
    try:
        sink.on_alert(alert("info", "quiet", 0.1))  # below min_severity
        sink.on_alert(alert("warning", "hot", 0.5))
        sink.on_alert(alert("critical", "defect", 0.99))
        assert reader.lines(2) == [
            "ALERT warning line1/hot 0.5",
            "ALERT critical line1/defect 0.99",
        ]
        reader.close()
        socat.kill()  # the adapter is pulled
        sink.on_alert(alert("critical", "while-unplugged", 0.7))
        assert wait_for(lambda: sink.failures > 0)
        socat.start()
        assert wait_for(lambda: sink.sent == 3)  # written as soon as it is back
        reader = PtyReader(socat.b)
        assert reader.lines(1) == ["ALERT critical line1/while-unplugged 0.7"]
        assert sink.sent == 3
        assert sink.dropped == 0
    finally:
        reader.close()
        sink.close()


def test_the_daemon_writes_a_line_per_defect_to_the_configured_port(
    socat: SocatPair, tmp_path: Path
) -> None:
    root = Path(__file__).resolve().parents[2]
    config = load_config(
        root / "device-configs" / "demo.yaml",
        [
            "streams.0.realtime=false",
            f"state_dir={tmp_path}",
            "mqtt.enabled=false",
            f"alerts.actions=[{{port: {socat.a}, line: 'DEFECT {{seq}} {{score}}'}}]",
            "alerts.max_mb=1",
        ],
    )
    reader = PtyReader(socat.b)
    daemon = Daemon(config)
    try:
        daemon.load()
        daemon.start()
        daemon.wait(threading.Event(), poll_s=0.05)
    finally:
        daemon.stop()
    lines = reader.lines(3)
    reader.close()
    assert len(lines) == 3
    assert all(line.startswith("DEFECT ") for line in lines)
    assert [int(line.split()[1]) for line in lines] == sorted(
        int(line.split()[1]) for line in lines
    )
