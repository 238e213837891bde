"""Intel devices behind OpenVINO: is the NPU or GPU there, and if not, why not.

OpenVINO lists only devices whose driver loaded. When one is missing, the kernel nodes
tell the reason: no ``/dev/accel/accel*`` means the NPU driver is not loaded; a node the
user cannot open means a missing group (``render``); a node that opens but no device in
OpenVINO means the user-space driver (Level Zero / compute runtime) is missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeinfer.backends.probe import DeviceReport
from edgeinfer.errors import BackendUnavailable

DEV_ROOT = Path("/dev")

_NODES = {"NPU": "accel/accel*", "GPU": "dri/renderD*"}
_DRIVER_FIX = {
    "NPU": "install the Intel NPU driver (linux-npu-driver with level-zero) and reboot",
    "GPU": "install the Intel GPU compute runtime (intel-opencl-icd, level-zero)",
}
_KERNEL_FIX = {
    "NPU": "use a kernel with the intel_vpu module (Linux 6.3 or newer) and load it",
    "GPU": "load the i915 or xe kernel driver for the GPU",
}
GROUP_FIX = "add the service user to group render (and video), then log in again"


def nodes(kind: str) -> list[Path]:
    """Kernel device nodes for ``kind`` (NPU or GPU)."""
    return sorted(DEV_ROOT.glob(_NODES[kind]))


def missing_reason(kind: str) -> tuple[str, str]:
    """Why OpenVINO does not list device ``kind``: (reason, fix)."""
    found = nodes(kind)
    if not found:
        return (
            f"no /dev/{_NODES[kind]} (the {kind} kernel driver is not loaded)",
            _KERNEL_FIX[kind],
        )
    denied = [str(n) for n in found if not os.access(n, os.R_OK | os.W_OK)]
    if denied:
        return f"this user cannot open {', '.join(denied)}", GROUP_FIX
    return (
        f"{found[0]} exists but OpenVINO does not list the {kind}",
        _DRIVER_FIX[kind],
    )


def check_device(core: Any, device: str) -> None:
    """Raise BackendUnavailable when ``device`` (CPU, GPU.1, NPU, ...) is absent."""
    if ":" in device:  # AUTO:..., HETERO:..., MULTI:... choose among what is present
        return
    if device == "AUTO":
        return
    available = list(core.available_devices)
    if device in available or (
        device == "GPU" and any(d.startswith("GPU") for d in available)
    ):
        return
    kind = device.split(".", maxsplit=1)[0]
    if kind in _NODES:
        reason, fix = missing_reason(kind)
    else:
        reason, fix = (
            f"OpenVINO lists only {', '.join(available)}",
            "choose one of those",
        )
    raise BackendUnavailable(
        f"OpenVINO device {device} not available: {reason} — {fix}",
        backend="openvino",
        device=device,
    )


def probe(core: Any) -> list[DeviceReport]:
    """Every OpenVINO device with its full name, and NPU/GPU reports when absent."""
    import openvino as ov  # noqa: PLC0415 -- only reached once core() imported it

    reports = []
    available = list(core.available_devices)
    for device in available:
        try:
            name = str(core.get_property(device, "FULL_DEVICE_NAME"))
        except RuntimeError:
            name = ""
        reports.append(
            DeviceReport("openvino", device, True, f"OpenVINO {ov.__version__}: {name}")
        )
    for kind in ("GPU", "NPU"):
        if not any(d.startswith(kind) for d in available):
            reason, fix = missing_reason(kind)
            reports.append(DeviceReport("openvino", kind, False, "", reason, fix))
    return reports
