"""The running daemon's view: its self-test and stream health, over the socket.

A daemon holds its cameras, serial ports and accelerators (an Edge TPU serves one
process), so opening them again from the doctor would fail for the wrong reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeinfer.doctor.result import CheckResult, failed, passed
from edgeinfer.errors import ServiceError
from edgeinfer.service.client import call

SELFTEST_TIMEOUT_S = 60.0


def daemon_checks(socket: Path) -> list[CheckResult] | None:
    """The daemon's checks, or None when no daemon answers on ``socket``."""
    try:
        status: dict[str, Any] = call(socket, "status", timeout=10.0)
    except ServiceError as err:
        if "no edgeinfer daemon is running" in str(err):
            return None
        return [failed("daemon", str(err), "see journalctl -u edgeinfer")]
    try:
        selftest = call(socket, "selftest", timeout=SELFTEST_TIMEOUT_S)
    except ServiceError as err:
        return [failed("daemon", str(err), "see journalctl -u edgeinfer")]
    results = [
        passed(
            "daemon",
            f"running on {socket}, up {status['uptime_s']:.0f} s "
            f"(edgeinfer {status.get('version', '?')})",
        )
    ]
    for check in selftest["checks"]:
        name: str = check["name"]
        if not name.startswith(("model:", "stream:")):
            continue  # state_dir, disk and the broker are checked here directly
        if check["ok"]:
            results.append(passed(name, check["detail"]))
        else:
            results.append(failed(name, check["detail"], _fix(name)))
    return results


def _fix(name: str) -> str:
    kind, _, item = name.partition(":")
    if kind == "model":
        return (
            f"the daemon's model {item} does not run: journalctl -u edgeinfer, "
            "then systemctl restart edgeinfer"
        )
    return (
        f"edgeinfer status shows why {item} is not ok; after fixing the device or "
        "network, the daemon reopens it by itself"
    )
