"""sd_notify addressing and messages, the watchdog interval, stall detection."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.app import Daemon
from edgeinfer.config import parse_config
from edgeinfer.service.notify import Notifier, socket_address, watchdog_interval
from edgeinfer.service.progress import ProgressMonitor
from edgeinfer.sources import Health
from edgeinfer.testing import FakeCamera


def test_an_at_sign_names_an_abstract_socket() -> None:
    assert socket_address("@edgeinfer/notify") == "\0edgeinfer/notify"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}, 2.0),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),
    ],
)
def test_the_watchdog_interval_comes_from_the_environment(
    env: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(env) == expected


def test_a_notification_is_one_datagram_of_single_line_fields(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(path))
        notifier = Notifier(str(path))
        assert notifier.send(READY=1, STATUS="two\nlines")
        assert manager.recv(4096) == b"READY=1\nSTATUS=two lines"
        notifier.close()


def test_without_a_socket_notifying_does_nothing() -> None:
    notifier = Notifier(None)
    assert not notifier.enabled
    assert not notifier.send(WATCHDOG=1)


def test_a_vanished_manager_is_not_an_error(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert not notifier.send(WATCHDOG=1)
    assert not notifier.send(WATCHDOG=1)
    notifier.close()
    assert not notifier.send(WATCHDOG=1)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_camera_stalls_only_while_ok_and_after_its_frame_period(
    tmp_path: Path,
) -> None:
    config = parse_config(
        f"state_dir: {tmp_path}\n"
        "streams: [{kind: camera, name: cam, source: '0', fps_cap: 0.1}]\n",
        "test.yaml",
    )
    daemon = Daemon(config)
    camera = FakeCamera("cam", [np.zeros((8, 8, 3), np.uint8)], lambda _f: None)
    daemon.sources["cam"] = camera
    camera.start()
    try:
        wait_until(lambda: camera.health.health is Health.OK)
        monitor = ProgressMonitor(daemon)
        assert monitor.stalled(1.0, now=0.0) == []
        assert monitor.stalled(1.0, now=5.0) == []  # 0.1 fps: patience is 30 s
        assert monitor.stalled(1.0, now=31.0) == ["cam: no progress for 31 s"]
        daemon.stats["cam"].frames_in += 1
        assert monitor.stalled(1.0, now=32.0) == []  # it moved
        camera.unplug()  # offline: its own thread retries, no work is waiting
        wait_until(lambda: camera.health.health is Health.OFFLINE)
        assert monitor.stalled(1.0, now=100.0) == []
    finally:
        camera.stop()
        daemon.alert_log.close()
