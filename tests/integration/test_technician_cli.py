"""``edgeinfer camera snapshot`` and ``edgeinfer serial monitor`` on real sources:
a video file, the running daemon's stream over the control socket, a TCP sensor."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from tests.conftest import CliRunner
from tests.integration.test_service import demo_config
from tests.service_support import DEMO, DaemonProcess, QuietSensor

pytestmark = pytest.mark.integration


def test_a_snapshot_of_a_video_file(tmp_path: Path, run_cli: CliRunner) -> None:
    out = tmp_path / "frame.jpg"
    result = run_cli(
        "camera", "snapshot", "--source", DEMO / "conveyor.mp4", "--out", out, "--json"
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    image = cv2.imread(str(out))
    assert image is not None
    assert image.shape == (240, 320, 3)
    assert (info["width"], info["height"], info["bytes"]) == (
        320,
        240,
        len(out.read_bytes()),
    )


def test_a_snapshot_of_a_missing_camera_says_so(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    out = tmp_path / "frame.jpg"
    result = run_cli("camera", "snapshot", "--source", "/dev/video96", "--out", out)
    assert result.returncode == 1
    assert result.stderr == (
        "error: camera /dev/video96: no such device — check ls /dev/video*\n"
    )
    assert not out.exists()


def test_a_snapshot_of_a_stream_comes_from_the_running_daemon(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    stream = {
        "kind": "camera",
        "name": "line1",
        "source": str(DEMO / "conveyor.mp4"),
        "model": "demo",
        "loop": True,
    }
    config = demo_config(tmp_path, [stream])
    out = tmp_path / "line1.jpg"
    with DaemonProcess(config, None) as daemon:
        daemon.wait_output("result line1")
        result = run_cli(
            "camera",
            "snapshot",
            "--source",
            "line1",
            "--config",
            config,
            "--out",
            out,
            "--json",
        )
        daemon.stop()
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["source"] == "stream line1 of the running daemon"
    assert info["stream"] == "line1"
    assert info["seq"] >= 0
    image = cv2.imread(str(out))
    assert image is not None
    assert image.shape[:2] == (info["height"], info["width"])


def test_serial_monitor_prints_parsed_readings(run_cli: CliRunner) -> None:
    sensor = QuietSensor([b"t=21.5 h=40\n", b"garbage\xff\n", b"t=21.6 h=41\n"])
    try:
        result = run_cli(
            "serial",
            "monitor",
            "--port",
            sensor.url,
            "--format",
            "kv",
            "--count",
            "2",
            "--json",
            timeout=30,
        )
    finally:
        sensor.close()
    assert result.returncode == 0, result.stderr
    readings = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["values"] for r in readings] == [
        {"t": 21.5, "h": 40.0},
        {"t": 21.6, "h": 41.0},
    ]
    assert "2 readings, 1 malformed lines" in result.stderr
