"""The systemd unit and the install script: the unit verifies with systemd's own
tool, asks for what the daemon relies on, and the script says what it would do."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

UNIT = ROOT / "packaging" / "systemd" / "edgeinfer.service"
INSTALL = ROOT / "packaging" / "install.sh"
SYSTEMD_RUNNING = Path("/run/systemd/system").is_dir()  # what install.sh checks


def unit_settings() -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit, by key (keys repeat, e.g. DeviceAllow)."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_the_unit_is_a_watched_notify_service_with_device_access() -> None:
    s = unit_settings()
    assert s["Type"] == ["notify"]
    assert s["WatchdogSec"] == ["30s"]
    assert s["Restart"] == ["on-failure"]
    assert s["StateDirectory"] == ["edgeinfer"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["User"] == ["edgeinfer"]
    assert set(s["SupplementaryGroups"][0].split()) == {
        "video",
        "dialout",
        "render",
        "plugdev",
    }
    assert s["ProtectSystem"] == ["strict"]
    assert "/var/lib/edgeinfer" in s["ReadWritePaths"][0].split()
    assert s["DevicePolicy"] == ["closed"]
    allowed = {rule.split()[0] for rule in s["DeviceAllow"]}
    assert {"char-video4linux", "char-ttyUSB", "char-ttyACM", "char-usb_device"} <= (
        allowed
    )
    assert {"char-drm", "char-accel"} <= allowed
    assert "PrivateDevices" not in s


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    # As install.sh does: ExecStart points at the installed program.
    program = Path(sys.executable).parent / "edgeinfer"
    unit = tmp_path / "edgeinfer.service"
    unit.write_text(
        UNIT.read_text().replace("/opt/edgeinfer/bin/edgeinfer", str(program))
    )
    result = subprocess.run(
        [tool, "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert str(unit) not in result.stderr  # no unknown keys or bad values


def test_the_install_script_creates_the_user_and_prints_the_coral_rule() -> None:
    result = subprocess.run(
        ["sh", str(INSTALL), "--dry-run", "--bin", "/usr/local/bin/edgeinfer"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "+ usermod --append --groups video,dialout,render,plugdev edgeinfer" in out
    assert "+ install -d -m 0750 -o edgeinfer -g edgeinfer /var/lib/edgeinfer" in out
    assert "ExecStart=/usr/local/bin/edgeinfer" in out
    if SYSTEMD_RUNNING:
        assert "+ systemctl daemon-reload" in out
    else:  # a chroot or container building an image: the unit is only installed
        assert "+ systemctl daemon-reload" not in out
        assert "systemd is not running here" in out
    rules = [line for line in out.splitlines() if line.startswith("SUBSYSTEM==")]
    assert any('ATTRS{idVendor}=="1a6e"' in rule for rule in rules)
    assert any('ATTRS{idVendor}=="18d1"' in rule for rule in rules)
    assert all('GROUP="plugdev"' in rule for rule in rules)


def test_enable_starts_the_service_or_enables_it_for_the_next_boot() -> None:
    result = subprocess.run(
        ["sh", str(INSTALL), "--dry-run", "--bin", "/usr/bin/true", "--enable"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    if SYSTEMD_RUNNING:
        assert "+ systemctl enable --now edgeinfer.service" in result.stdout
    else:  # offline: systemctl only links the unit
        assert "+ systemctl enable edgeinfer.service" in result.stdout
        assert "starts at the next boot" in result.stdout


def test_the_install_script_refuses_an_unknown_option() -> None:
    result = subprocess.run(
        ["sh", str(INSTALL), "--frobnicate"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown option --frobnicate" in result.stderr
