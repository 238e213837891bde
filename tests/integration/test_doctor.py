"""``edgeinfer doctor`` on real configs: what passes, and each failure with a fix
(a broken config, a missing camera, a wrong broker password); against a running
daemon it asks the daemon instead of opening its devices."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CliRunner
from tests.integration.test_service import demo_config
from tests.mosquitto import Broker
from tests.service_support import DEMO, DaemonProcess, QuietSensor

pytestmark = pytest.mark.integration

USER, PASSWORD = "edge", "s3cret-Pa55"


@pytest.fixture(scope="module")
def password_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A broker that takes USER with PASSWORD and nobody else."""
    folder = tmp_path_factory.mktemp("broker")
    passwords = folder / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), USER, PASSWORD], check=True
    )
    b = Broker(folder, anonymous=False, settings=f"password_file {passwords}")
    b.start()
    yield b
    b.stop()


def doctor(run_cli: CliRunner, config: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """Run doctor --json; its exit status and the checks by name."""
    result = run_cli("doctor", "--config", config, "--json", *extra, timeout=60)
    report = json.loads(result.stdout)
    assert report["ok"] == (result.returncode == 0), result.stderr
    checks = {c["name"]: c for c in report["checks"]}
    return result.returncode, checks


CAMERA = {
    "kind": "camera",
    "name": "line1",
    "source": str(DEMO / "conveyor.mp4"),
    "model": "demo",
}


def test_a_good_device_passes_each_check(tmp_path: Path, run_cli: CliRunner) -> None:
    sensor = QuietSensor([b"t=20.5 h=40\n", b"t=20.6 h=41\n"])
    try:
        serial = {"kind": "serial", "name": "boiler", "port": sensor.url}
        config = demo_config(tmp_path, [CAMERA, serial])
        _code, checks = doctor(run_cli, config)
    finally:
        sensor.close()
    assert checks["config"]["outcome"] == "pass"
    assert checks["daemon"]["outcome"] == "warn"
    assert "systemctl start edgeinfer" in checks["daemon"]["fix"]
    assert checks["model:demo"]["outcome"] == "pass"
    assert "litert:cpu" in checks["model:demo"]["detail"]
    assert checks["camera:line1"]["outcome"] == "pass"
    assert "320x240 frame" in checks["camera:line1"]["detail"]
    assert checks["serial:boiler"]["outcome"] == "pass"
    assert "parsed t=20." in checks["serial:boiler"]["detail"]
    assert checks["broker"]["outcome"] == "skip"
    assert checks["clock"]["outcome"] == "pass"
    assert checks["state_dir"]["outcome"] in ("pass", "warn")
    assert checks["disk"]["outcome"] == "pass"
    assert checks["groups"]["outcome"] in ("pass", "fail", "warn")


def test_a_broken_config_fails_with_its_line_and_fix(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path}\nmqtt:\n  port: 70000\n")
    code, checks = doctor(run_cli, config)
    assert code == 1
    check = checks["config"]
    assert check["outcome"] == "fail"
    assert "config.yaml:3" in check["detail"]
    assert "mqtt.port" in check["detail"]
    assert "65535" in check["fix"]
    assert "model:demo" not in checks  # nothing to load without a valid config
    assert checks["clock"]["outcome"] == "pass"


def test_a_missing_camera_fails_with_what_to_plug_in(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    cameras = [
        {"kind": "camera", "name": "door", "source": "/dev/video97"},
        {"kind": "camera", "name": "clip", "source": str(tmp_path / "gone.mp4")},
    ]
    code, checks = doctor(run_cli, demo_config(tmp_path, cameras))
    assert code == 1
    door, clip = checks["camera:door"], checks["camera:clip"]
    assert door["outcome"] == "fail"
    assert door["detail"] == "/dev/video97: no such device"
    assert "plug the camera in" in door["fix"]
    assert clip["outcome"] == "fail"
    assert "no such file" in clip["detail"]


def test_a_wrong_broker_password_fails_naming_the_settings(
    tmp_path: Path, run_cli: CliRunner, password_broker: Broker
) -> None:
    def with_password(password: str) -> Path:
        folder = tmp_path / ("good" if password == PASSWORD else "bad")
        folder.mkdir()
        mqtt = {
            "host": "127.0.0.1",
            "port": password_broker.port,
            "username": USER,
            "password": password,
        }
        return demo_config(folder, [], mqtt=mqtt)

    code, checks = doctor(run_cli, with_password("Wr0ng-pa55"), "--broker-timeout", "5")
    assert code == 1
    broker = checks["broker"]
    assert broker["outcome"] == "fail"
    assert f"refused the session as user {USER!r}" in broker["detail"]
    assert broker["fix"] == "check mqtt.username and mqtt.password"
    assert "Wr0ng-pa55" not in json.dumps(checks)  # no secrets in the report

    _code, checks = doctor(run_cli, with_password(PASSWORD), "--broker-timeout", "5")
    assert checks["broker"]["outcome"] == "pass"
    assert f"as {USER!r}" in checks["broker"]["detail"]


def test_against_a_running_daemon_doctor_asks_it(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    config = demo_config(tmp_path, [{**CAMERA, "loop": True}])
    with DaemonProcess(config, None) as daemon:
        daemon.wait_output("control socket at")
        daemon.wait_output("source line1: ok")
        code, checks = doctor(run_cli, config)
        daemon.stop()
    assert checks["daemon"]["outcome"] == "pass"
    assert checks["stream:line1"]["outcome"] == "pass"
    assert checks["model:demo"]["outcome"] == "pass"
    assert "camera:line1" not in checks  # the daemon holds the camera
    assert code == (0 if all(c["ok"] for c in checks.values()) else 1)


def test_the_plain_report_has_one_line_per_check(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    config = demo_config(tmp_path, [{"kind": "camera", "name": "door", "source": "7"}])
    data = yaml.safe_load(config.read_text())
    data["streams"][0]["source"] = "/dev/video98"
    config.write_text(yaml.safe_dump(data))
    result = run_cli("doctor", "--config", config, timeout=60)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("PASS config: ")
    assert any(
        line.startswith("FAIL camera:door: /dev/video98: no such device — fix: ")
        for line in lines
    )
    assert "1 check(s) failed" in result.stderr
