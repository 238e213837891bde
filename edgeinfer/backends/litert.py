"""LiteRT backend: TFLite models on the CPU (XNNPACK) or a Coral Edge TPU (delegate).

Devices: ``cpu``; ``edgetpu`` (the first Edge TPU found), ``usb``, ``usb:N``, ``pci:N``.
The runtime is ``ai_edge_litert``; where only the older ``tflite_runtime`` is installed
(some Coral images) that is used instead.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.backends import edgetpu
from edgeinfer.backends.base import (
    NO_QUANT,
    BackendOptions,
    NDArray,
    Placement,
    Quantization,
    TensorSpec,
)
from edgeinfer.backends.probe import DeviceReport
from edgeinfer.backends.tflite_meta import EDGETPU_OP, read_tflite_info
from edgeinfer.errors import BackendUnavailable, ConfigError, ModelLoadError

log = logging.getLogger(__name__)

_DEVICE_RE = re.compile(r"^(cpu|edgetpu|usb|usb:\d+|pci|pci:\d+)$")
INSTALL_FIX = "pip install ai-edge-litert (or tflite-runtime on a Coral image)"


def normalize_device(device: str) -> str:
    """Return the canonical device string (``cpu`` when empty); reject unknown ones."""
    dev = (device or "cpu").strip().lower()
    if not _DEVICE_RE.match(dev):
        raise ConfigError(
            f"unknown LiteRT device {device!r} — "
            "use cpu, edgetpu, usb, usb:N, pci or pci:N"
        )
    return dev


def import_interpreter() -> tuple[Any, Any, str]:
    """(Interpreter class, load_delegate, runtime name); raise if none is here."""
    errors = []
    try:
        from ai_edge_litert.interpreter import (  # noqa: PLC0415 -- lazy by design
            Interpreter,
            load_delegate,
        )
    except ImportError as err:
        errors.append(f"ai_edge_litert: {err}")
    else:
        return Interpreter, load_delegate, "ai_edge_litert"
    try:
        from tflite_runtime.interpreter import (  # noqa: PLC0415 -- lazy by design
            Interpreter,
            load_delegate,
        )
    except ImportError as err:
        errors.append(f"tflite_runtime: {err}")
    else:
        return Interpreter, load_delegate, "tflite_runtime"
    detail = "; ".join(errors)
    fix = INSTALL_FIX
    if "numpy" in detail.lower() or "_ARRAY_API" in detail:
        fix = (
            "the installed runtime was built for NumPy 1.x: pip install ai-edge-litert "
            "(built for NumPy 2), or pip install 'numpy<2'"
        )
    raise BackendUnavailable(
        f"LiteRT is not usable here ({detail}) — {fix}", backend="litert"
    )


class LiteRTBackend:
    """One LiteRT interpreter for one model on one device."""

    def __init__(self, model_path: Path, device: str, options: BackendOptions) -> None:
        device = normalize_device(device)
        info = read_tflite_info(model_path)
        interpreter_cls, load_delegate, runtime = import_interpreter()
        delegates = []
        if device != "cpu":
            delegates.append(
                edgetpu.load_edgetpu_delegate(
                    load_delegate, device, options.extra.get("delegate_path")
                )
            )
        elif info.is_edgetpu:
            raise ModelLoadError(
                f"{model_path} is compiled for the Coral Edge TPU ({EDGETPU_OP}) and "
                "needs the Edge TPU delegate (libedgetpu.so.1) — run it with an Edge "
                "TPU device (usb, pci), or configure its CPU twin "
                "(models.<name>.cpu_twin)"
            )
        threads = options.threads or os.cpu_count() or 1
        try:
            self._interp = interpreter_cls(
                model_path=str(model_path),
                experimental_delegates=delegates or None,
                num_threads=threads,
            )
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise ModelLoadError(_explain(model_path, err)) from err
        self.placement = Placement("litert", device)
        self.runtime = runtime
        self.inputs = _specs(self._interp.get_input_details(), info.inputs)
        self.outputs = _specs(self._interp.get_output_details(), info.outputs)
        self._in_idx = [d["index"] for d in self._interp.get_input_details()]
        self._out_idx = [d["index"] for d in self._interp.get_output_details()]
        self._invoke = self._interp.invoke
        self._args = (model_path, device, options)
        log.debug("loaded %s on litert:%s with %d threads", model_path, device, threads)

    def infer(self, inputs: list[NDArray]) -> list[NDArray]:
        """Set the inputs, invoke (releases the GIL), return copies of the outputs."""
        interp = self._interp
        for idx, tensor in zip(self._in_idx, inputs, strict=True):
            interp.set_tensor(idx, tensor)
        try:
            self._invoke()
        except RuntimeError as err:
            raise ModelLoadError(
                f"LiteRT invoke failed: {err}".splitlines()[0]
            ) from err
        return [interp.get_tensor(idx) for idx in self._out_idx]

    @property
    def preferred_workers(self) -> int:
        """One worker per interpreter: as many as configured (``workers``)."""
        return max(1, self._args[2].streams)

    def fork(self) -> LiteRTBackend:
        """A second interpreter on the same model and device (interpreters are not
        thread-safe; each worker needs its own)."""
        return LiteRTBackend(*self._args)

    def close(self) -> None:
        """Drop the interpreter (LiteRT frees it with the last reference)."""
        self._interp = None


def _specs(
    details: list[dict[str, Any]], meta: tuple[TensorSpec, ...]
) -> tuple[TensorSpec, ...]:
    """Runtime shapes and dtypes from the interpreter; quantization from either."""
    specs = []
    for i, d in enumerate(details):
        scale, zero = d.get("quantization", (0.0, 0))
        quant = Quantization(float(scale), int(zero)) if scale else NO_QUANT
        if quant is NO_QUANT and i < len(meta):
            quant = meta[i].quant
        specs.append(
            TensorSpec(
                str(d["name"]),
                tuple(int(x) for x in d["shape"]),
                np.dtype(d["dtype"]),
                quant,
            )
        )
    return tuple(specs)


def _explain(model_path: Path, err: Exception) -> str:
    text = str(err)
    first = text.splitlines()[0] if text else type(err).__name__
    if "not a valid Flatbuffer" in text or "Could not open" in text:
        return (
            f"{model_path} is not a valid TFLite model ({first}) — "
            "copy the file again and check its size and sha256"
        )
    op = re.search(r"unresolved custom op: ([\w.-]+)", text)
    if op:
        return (
            f"{model_path} uses op {op.group(1)!r}, which this LiteRT build does not "
            "have — rebuild the model with builtin ops, or run it where that op exists"
        )
    return f"LiteRT cannot load {model_path}: {first} — check that the model is valid"


def load(model_path: Path, device: str, options: BackendOptions) -> LiteRTBackend:
    """Load ``model_path`` on ``device`` (see module docstring)."""
    return LiteRTBackend(model_path, device, options)


def probe() -> list[DeviceReport]:
    """Report the LiteRT CPU runtime and every Edge TPU (or why none is usable)."""
    try:
        _, load_delegate, runtime = import_interpreter()
    except BackendUnavailable as err:
        return [
            DeviceReport(
                "litert", "cpu", False, "", str(err).split(" — ")[0], INSTALL_FIX
            )
        ]
    version = _runtime_version(runtime)
    reports = [
        DeviceReport(
            "litert",
            "cpu",
            True,
            f"{runtime} {version}, XNNPACK, {os.cpu_count()} cores",
        )
    ]
    reports.extend(edgetpu.probe(load_delegate))
    return reports


def _runtime_version(runtime: str) -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    dist = "ai-edge-litert" if runtime == "ai_edge_litert" else "tflite-runtime"
    try:
        return version(dist)
    except PackageNotFoundError:
        return "(version unknown)"
