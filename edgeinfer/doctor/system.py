"""Checks of the machine: clock, disk, groups and device permissions.

Device nodes are owned by a group (``video`` for cameras, ``dialout`` for serial
adapters, ``render`` for GPU/NPU nodes, ``plugdev`` for USB accelerators by udev
rule); the daemon's user must be in the groups of the devices it uses.
"""

from __future__ import annotations

import datetime
import glob
import grp
import os
import pwd
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from edgeinfer.doctor.result import CheckResult, failed, passed, skipped, warned
from edgeinfer.metrics.system import disk

MIN_YEAR = 2024
CLOCK_SLACK_S = 24 * 3600  # files from "the future" by more than this: clock behind
MIN_FREE_BYTES = 256 << 20
SERVICE_USER = "edgeinfer"


@dataclass(frozen=True)
class DeviceClass:
    """Device nodes of one kind and the group that usually owns them."""

    what: str
    patterns: tuple[str, ...]
    group: str


DEVICE_CLASSES = (
    DeviceClass("camera", ("/dev/video*",), "video"),
    DeviceClass("serial port", ("/dev/ttyUSB*", "/dev/ttyACM*"), "dialout"),
    DeviceClass("NPU", ("/dev/accel/accel*",), "render"),
    DeviceClass("GPU render node", ("/dev/dri/renderD*",), "render"),
    DeviceClass("Edge TPU (PCIe)", ("/dev/apex_*",), "apex"),
)
SERVICE_GROUPS = ("video", "dialout", "render", "plugdev")


def check_clock(reference_files: list[Path]) -> CheckResult:
    """The year is at least 2024 and no reference file is from the future."""
    now = time.time()
    year = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).year
    fix = (
        "set the time (timedatectl set-time 'YYYY-MM-DD HH:MM') and enable NTP "
        "(timedatectl set-ntp true); TLS and alert timestamps depend on it"
    )
    if year < MIN_YEAR:
        return failed("clock", f"the clock says {year}", fix)
    newest = max(
        (p.stat().st_mtime for p in reference_files if p.exists()), default=0.0
    )
    if newest - now > CLOCK_SLACK_S:
        days = (newest - now) / 86400
        return failed(
            "clock",
            f"files are {days:.0f} days newer than the clock: it is behind",
            fix,
        )
    stamp = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    return passed("clock", f"{stamp:%Y-%m-%d %H:%M:%S} UTC")


def check_state_dir(state_dir: Path) -> CheckResult:
    """The state directory exists (or can be created) and is writable."""
    name = "state_dir"
    if not state_dir.exists():
        return warned(
            name,
            f"{state_dir} does not exist yet",
            "it is created at the first start (systemd StateDirectory=edgeinfer), "
            f"or: sudo install -d -o {SERVICE_USER} {state_dir}",
        )
    if not os.access(state_dir, os.W_OK | os.X_OK):
        return failed(
            name,
            f"{state_dir} is not writable by {_user_name()}",
            f"sudo chown -R {SERVICE_USER}: {state_dir}, or run as the daemon's user",
        )
    return passed(name, f"{state_dir} is writable")


def check_disk(state_dir: Path) -> CheckResult:
    """Enough free space for the outbox, alert log and model store."""
    usage = disk(state_dir)
    if usage is None:
        return warned("disk", f"cannot read the disk usage of {state_dir}")
    free_mb = usage["free_bytes"] / (1 << 20)
    detail = f"{free_mb:.0f} MB free ({usage['used_percent']}% used) for {state_dir}"
    if usage["free_bytes"] < MIN_FREE_BYTES:
        return failed(
            "disk",
            detail,
            "free space: old model versions (edgeinfer models list), journal "
            "(journalctl --vacuum-size=100M), files outside state_dir",
        )
    return passed("disk", detail)


def check_devices() -> list[CheckResult]:
    """For each device node present: can this user read and write it?"""
    results = []
    for cls in DEVICE_CLASSES:
        for node in sorted(p for pat in cls.patterns for p in glob.glob(pat)):
            results.append(_device_access(cls, Path(node)))
    if not results:
        results.append(
            skipped("devices", "no camera, serial, NPU, GPU or Edge TPU nodes in /dev")
        )
    return results


def _device_access(cls: DeviceClass, node: Path) -> CheckResult:
    name = f"device:{node}"
    try:
        st = node.stat()
    except OSError as err:
        return warned(name, f"cannot stat {node}: {err.strerror}")
    group = _group_name(st.st_gid)
    mode = stat.filemode(st.st_mode)
    detail = f"{cls.what}, {mode} owner group {group}"
    if os.access(node, os.R_OK | os.W_OK):
        return passed(name, f"{detail}: read/write for {_user_name()}")
    return failed(
        name,
        f"{detail}: {_user_name()} may not open it",
        f"sudo usermod -aG {group} {_user_name()} (then log in again, or restart "
        "the service)",
    )


def check_groups(user: str | None = None) -> CheckResult:
    """The daemon's user is in the groups that own cameras, serial ports, NPUs
    and USB accelerators (groups this system does not have are skipped)."""
    user = user or service_user()
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return warned(
            "groups",
            f"no user {user!r} on this system",
            "create it: sudo packaging/install.sh (or edgeinfer's install script)",
        )
    if entry.pw_uid == 0:
        return passed("groups", f"{user} is root: every device is accessible")
    member = {g.gr_name for g in grp.getgrall() if user in g.gr_mem}
    member.add(_group_name(entry.pw_gid))
    existing = [g for g in SERVICE_GROUPS if _group_exists(g)]
    missing = [g for g in existing if g not in member]
    if missing:
        return failed(
            "groups",
            f"{user} is not in {', '.join(missing)}",
            f"sudo usermod -aG {','.join(missing)} {user}, then restart the service",
        )
    return passed("groups", f"{user} is in {', '.join(existing) or 'no device group'}")


def service_user() -> str:
    """Whose groups matter: the service's user when root runs the check and that
    user exists, else the user running it."""
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return _user_name()
        return SERVICE_USER
    return _user_name()


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
