"""The daemon under a service manager, as a subprocess: sd_notify over a real
datagram socket, watchdog pings only while the pipeline moves, SIGHUP reload, and
the CLI's ``status`` over the control socket."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CliRunner
from tests.service_support import (
    DEMO,
    DaemonProcess,
    MjpegCamera,
    NotifyListener,
    QuietSensor,
)

pytestmark = pytest.mark.integration


def demo_config(tmp_path: Path, streams: list[dict[str, Any]], **extra: Any) -> Path:
    """A config with the demo model, ``streams`` and state in tmp_path."""
    data = {
        "device": {"id": "svc"},
        "state_dir": str(tmp_path / "state"),
        "log_level": "info",
        "accelerators": ["cpu"],
        "models": {
            "demo": {
                "path": str(DEMO / "conveyor_int8.tflite"),
                "labels": str(DEMO / "labels.txt"),
                "version": "1.0.0",
                "task": "classification",
            }
        },
        "streams": streams,
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def sensor() -> Iterator[QuietSensor]:
    """A serial sensor that sends two readings and then stays silent."""
    s = QuietSensor([b"t=20.5\n", b"t=20.6\n"])
    yield s
    s.close()


def test_daemon_notifies_pings_reloads_and_answers_status(
    tmp_path: Path, sensor: QuietSensor, run_cli: CliRunner
) -> None:
    config = demo_config(
        tmp_path,
        [
            {
                "kind": "camera",
                "name": "line1",
                "source": str(DEMO / "conveyor.mp4"),
                "model": "demo",
                "loop": True,
            },
            {"kind": "serial", "name": "boiler", "port": sensor.url, "format": "kv"},
        ],
        rules=[
            {
                "name": "warm",
                "kind": "threshold",
                "streams": ["boiler"],
                "channel": "t",
                "above": 20.55,
            }
        ],
    )
    address = f"@edgeinfer-test-{uuid.uuid4().hex}"  # the abstract namespace
    with NotifyListener(address) as systemd, DaemonProcess(config, systemd) as daemon:
        systemd.wait_for("READY", lambda v: v == "1")
        ready = systemd.with_key("READY")[0][0]
        time.sleep(3.0)
        # The sensor went quiet after two readings: idle, not stalled.
        pings = systemd.with_key("WATCHDOG", since=ready)
        assert len(pings) >= 4, systemd.messages
        assert all(v == "1" for _t, v in pings)
        assert "line1 ok" in systemd.with_key("STATUS")[-1][1]

        result = run_cli("status", "--config", config, "--json", timeout=30)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        line1, boiler = report["streams"]["line1"], report["streams"]["boiler"]
        assert line1["health"] == "ok"
        assert line1["fps"] > 5
        assert line1["inferred"] > 0
        assert line1["latency_ms"]["end_to_end"]["p50"] > 0
        assert boiler["health"] == "ok"
        assert boiler["frames_in"] == 2
        assert report["models"]["demo"]["placement"] == "litert:cpu"
        assert report["models"]["demo"]["version"] == "1.0.0"
        (alert,) = report["last_alerts"]  # 20.6 is above 20.55, 20.5 is not
        assert (alert["stream"], alert["rule"]) == ("boiler", "warm")
        assert alert["values"]["value"] == 20.6
        assert report["socket"] == str(tmp_path / "state" / "control.sock")
        assert (tmp_path / "state" / "control.sock").stat().st_mode & 0o777 == 0o660

        plain = run_cli("status", "--config", config, timeout=30)
        assert plain.returncode == 0, plain.stderr
        assert "stream line1: ok" in plain.stdout
        assert "model demo 1.0.0: litert:cpu" in plain.stdout
        assert "broker: not configured" in plain.stdout
        assert "boiler/warm" in plain.stdout.splitlines()[-1]

        # SIGHUP with a broken file: logged, the running config stays.
        good = config.read_text()
        config.write_text(good.replace("log_level: info", "log_level: loud"))
        daemon.signal(signal.SIGHUP)
        daemon.wait_output("config reload failed, the running config stays")
        assert "log_level" in daemon.output()
        assert daemon.proc.poll() is None
        # A valid change (a new rule) is applied on the next SIGHUP.
        data = yaml.safe_load(good)
        data["rules"] = [
            {
                "name": "hot",
                "kind": "threshold",
                "streams": ["boiler"],
                "channel": "t",
                "above": 90.0,
            }
        ]
        config.write_text(yaml.safe_dump(data))
        daemon.signal(signal.SIGHUP)
        daemon.wait_output("config reloaded")
        assert systemd.with_key("RELOADING")

        assert daemon.stop() == 0
        stopping = systemd.wait_for("STOPPING")
        assert stopping == "1"
    assert not (tmp_path / "state" / "control.sock").exists()


def test_watchdog_pings_stop_when_the_camera_stalls(tmp_path: Path) -> None:
    camera = MjpegCamera(frames=45, fps=15)
    config = demo_config(
        tmp_path,
        [
            {
                "kind": "camera",
                "name": "dock",
                "source": camera.url,
                "model": "demo",
                "open_timeout_s": 60,
            }
        ],
    )
    notify = str(tmp_path / "notify.sock")
    try:
        with NotifyListener(notify) as systemd, DaemonProcess(config, systemd) as d:
            systemd.wait_for("READY", lambda v: v == "1")
            systemd.wait_for("WATCHDOG")  # frames come, inferences move
            stalled = systemd.wait_for("STATUS", lambda v: v.startswith("stalled"))
            assert "dock: no progress" in stalled
            stalled_at = min(
                t for t, v in systemd.with_key("STATUS") if v.startswith("stalled")
            )
            pinged = [t for t, _v in systemd.with_key("WATCHDOG") if t < stalled_at]
            assert len(pinged) >= 3, systemd.messages  # for the 3 s frames came
            since = time.monotonic()
            time.sleep(2.0)
            assert systemd.with_key("WATCHDOG", since=since) == []
            d.wait_output("pipeline stalled (dock")
            d.stop()
    finally:
        camera.close()


def test_status_without_a_daemon_says_how_to_start_one(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    result = run_cli("status", "--socket", tmp_path / "none.sock")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "no edgeinfer daemon is running" in result.stderr
    assert "systemctl start edgeinfer" in result.stderr
