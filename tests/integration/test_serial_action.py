"""The serial alert action over a real pty pair: lines arrive, low severities are left
out, and a line written while the adapter is unplugged arrives after it is back."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import serial

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


def read_lines(port: serial.Serial, n: int, timeout: float = 10) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < n and time.monotonic() < deadline:
        raw = port.readline()
        if raw:
            lines.append(raw.decode().rstrip("\n"))
    return lines


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
    reader = serial.Serial(socat.b, timeout=0.2)
    try:
        sink.on_alert(alert("info", "quiet", 0.1))  # below min_severity
        sink.on_alert(alert("warning", "hot", 0.5))
        sink.on_alert(alert("critical", "defect", 0.99))
        assert read_lines(reader, 2) == [
            "ALERT warning line1/hot 0.5",
            "ALERT critical line1/defect 0.99",
        ]
        reader.close()
        socat.kill()  # the adapter is pulled
        sink.on_alert(alert("critical", "while-unplugged", 0.7))
        assert wait_for(lambda: sink.failures > 0, 5)
        socat.start()
        reader = serial.Serial(socat.b, timeout=0.2)
        assert read_lines(reader, 1) == ["ALERT critical line1/while-unplugged 0.7"]
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
    reader = serial.Serial(socat.b, timeout=0.2)
    daemon = Daemon(config)
    try:
        daemon.load()
        daemon.start()
        daemon.wait(threading.Event(), poll_s=0.05)
    finally:
        daemon.stop()
    lines = read_lines(reader, 3)
    reader.close()
    assert len(lines) == 3
    assert all(line.startswith("DEFECT ") for line in lines)
    assert [int(line.split()[1]) for line in lines] == sorted(
        int(line.split()[1]) for line in lines
    )
