"""What a user asked for (flags or config) as an ordered list of candidates."""

from __future__ import annotations

from pathlib import Path

from edgeinfer.backends import normalize_placement
from edgeinfer.backends.base import BackendOptions
from edgeinfer.backends.select import Candidate
from edgeinfer.errors import ConfigError

# The best accelerator present wins: Edge TPU, Intel NPU, Intel GPU, then the CPU.
AUTO_PREFERENCE = (
    ("litert", "edgetpu"),
    ("openvino", "NPU"),
    ("openvino", "GPU"),
    ("litert", "cpu"),
    ("openvino", "CPU"),
    ("onnxruntime", "cpu"),
)
_READS = {
    "litert": (".tflite",),
    "openvino": (".tflite", ".onnx", ".xml"),
    "onnxruntime": (".onnx",),
}


def backend_for_device(device: str) -> str:
    """The backend that owns a device name given alone (``usb:0`` → litert)."""
    dev = device.strip().lower()
    if dev in ("cpu", "edgetpu") or dev.startswith(("usb", "pci")):
        return "litert"
    if dev.startswith(("npu", "gpu", "auto", "hetero", "multi")):
        return "openvino"
    raise ConfigError(
        f"unknown device {device!r} — use cpu, edgetpu, usb[:N], pci[:N] (LiteRT) or "
        "CPU, GPU[.N], NPU, AUTO (OpenVINO)"
    )


def candidates_from_flags(
    model_path: Path,
    backend: str | None,
    device: str | None,
    options: BackendOptions,
) -> list[Candidate]:
    """Candidates for ``--backend``/``--device``; the automatic order when neither."""
    if backend is None and device is not None:
        backend = backend_for_device(device)
    if backend is not None:
        return [Candidate(normalize_placement(backend, device), options)]
    suffix = model_path.suffix.lower()
    return [
        Candidate(normalize_placement(b, d), options)
        for b, d in AUTO_PREFERENCE
        if suffix in _READS[b]
    ]
