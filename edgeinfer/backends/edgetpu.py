"""The Coral Edge TPU: finding its delegate library and its USB or PCIe devices.

Used by the LiteRT backend; the delegate is ``libedgetpu.so.1`` (Linux),
``libedgetpu.1.dylib`` (macOS) or ``edgetpu.dll`` (Windows). Devices are named as the
delegate names them: ``usb``, ``usb:N``, ``pci``, ``pci:N``.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeinfer.backends.probe import DeviceReport
from edgeinfer.errors import BackendUnavailable

LIBRARIES = {
    "Linux": "libedgetpu.so.1",
    "Darwin": "libedgetpu.1.dylib",
    "Windows": "edgetpu.dll",
}
LIBRARY_FIX = (
    "install the Edge TPU runtime: apt-get install libedgetpu1-std "
    "(from the Coral package repository)"
)
# (vendor, product) of a Coral USB Accelerator before and after its firmware loads.
USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}
USB_PERMISSION_FIX = (
    "add the service user to group plugdev and install the Coral udev rule "
    "(edgeinfer prints it: see the service install), then replug the stick"
)
SYSFS_USB = Path("/sys/bus/usb/devices")
DEV_ROOT = Path("/dev")


def library_name() -> str:
    """The delegate library's file name on this operating system."""
    return LIBRARIES.get(platform.system(), LIBRARIES["Linux"])


def library_present(name: str | None = None) -> bool:
    """True when the dynamic loader can open the delegate library."""
    try:
        ctypes.CDLL(name or library_name())
    except OSError:
        return False
    return True


def usb_devices() -> list[tuple[str, Path]]:
    """Coral USB sticks as (sysfs name, /dev/bus/usb node), in bus order."""
    found = []
    for entry in sorted(SYSFS_USB.glob("*")):
        try:
            ids = (
                (entry / "idVendor").read_text().strip(),
                (entry / "idProduct").read_text().strip(),
            )
            if ids not in USB_IDS:
                continue
            bus = int((entry / "busnum").read_text())
            dev = int((entry / "devnum").read_text())
        except (OSError, ValueError):
            continue
        found.append(
            (entry.name, DEV_ROOT / "bus" / "usb" / f"{bus:03d}" / f"{dev:03d}")
        )
    return found


def pci_devices() -> list[Path]:
    """Coral PCIe/M.2 modules (``/dev/apex_N``)."""
    return sorted(DEV_ROOT.glob("apex_*"))


def load_edgetpu_delegate(
    load_delegate: Callable[..., Any], device: str, library: str | None = None
) -> Any:
    """Load the Edge TPU delegate for ``device``; raise BackendUnavailable with the fix.

    ``library`` is an explicit path to libedgetpu (default: the system's).
    """
    lib = library or library_name()
    if not library_present(lib):
        raise BackendUnavailable(
            f"Edge TPU delegate {lib} not found — {LIBRARY_FIX}",
            backend="litert",
            device=device,
        )
    options = {} if device == "edgetpu" else {"device": device}
    try:
        return load_delegate(lib, options)
    except (ValueError, RuntimeError, OSError) as err:
        raise BackendUnavailable(
            f"no Edge TPU at {device} ({_no_device_reason()}; {err}) — "
            "plug in the Coral accelerator or choose another device",
            backend="litert",
            device=device,
        ) from err


def _no_device_reason() -> str:
    sticks, modules = usb_devices(), pci_devices()
    if not sticks and not modules:
        return "no Coral USB or PCIe device is connected"
    denied = [str(node) for _, node in sticks if not os.access(node, os.R_OK | os.W_OK)]
    if denied:
        return f"no permission on {', '.join(denied)}: {USB_PERMISSION_FIX}"
    return "the delegate could not open it"


def probe(load_delegate: Callable[..., Any]) -> list[DeviceReport]:
    """Report the Edge TPU library and each Coral device, with reasons and fixes."""
    del load_delegate  # opening a device in a probe would claim it from the daemon
    lib = library_name()
    have_lib = library_present(lib)
    sticks, modules = usb_devices(), pci_devices()
    if not sticks and not modules:
        reason = "no Coral USB Accelerator or PCIe module connected"
        if not have_lib:
            reason += f", and {lib} is not installed"
        return [
            DeviceReport(
                "litert",
                "edgetpu",
                False,
                "",
                reason,
                "connect a Coral Edge TPU" + ("" if have_lib else f"; {LIBRARY_FIX}"),
            )
        ]
    reports = []
    for i, (name, node) in enumerate(sticks):
        ok = os.access(node, os.R_OK | os.W_OK)
        reports.append(
            _report(f"usb:{i}", f"Coral USB at {name} ({node})", have_lib, ok)
        )
    for i, node in enumerate(modules):
        ok = os.access(node, os.R_OK | os.W_OK)
        reports.append(_report(f"pci:{i}", f"Coral PCIe at {node}", have_lib, ok))
    return reports


def _report(device: str, detail: str, have_lib: bool, accessible: bool) -> DeviceReport:
    if not have_lib:
        return DeviceReport(
            "litert",
            device,
            False,
            detail,
            f"{library_name()} not installed",
            LIBRARY_FIX,
        )
    if not accessible:
        return DeviceReport(
            "litert",
            device,
            False,
            detail,
            "this user cannot open the device",
            USB_PERMISSION_FIX,
        )
    return DeviceReport("litert", device, True, detail)
