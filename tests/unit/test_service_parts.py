"""sd_notify addressing and messages, the watchdog interval, control requests."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from edgeinfer.service.notify import Notifier, socket_address, watchdog_interval


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
