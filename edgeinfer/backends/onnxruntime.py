"""ONNX Runtime backend (the extra ``edgeinfer[onnx]``): .onnx models on the CPU."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.backends.base import BackendOptions, NDArray, Placement, TensorSpec
from edgeinfer.backends.probe import DeviceReport
from edgeinfer.errors import BackendUnavailable, ConfigError, ModelLoadError

INSTALL_FIX = "pip install 'edgeinfer[onnx]' (onnxruntime)"
_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def normalize_device(device: str) -> str:
    """Only ``cpu`` is supported."""
    dev = (device or "cpu").strip().lower()
    if dev != "cpu":
        raise ConfigError(f"unknown ONNX Runtime device {device!r} — use cpu")
    return dev


def _import() -> Any:
    try:
        import onnxruntime  # noqa: PLC0415 -- optional extra, imported on use
    except ImportError as err:
        raise BackendUnavailable(
            f"ONNX Runtime is not installed ({err}) — {INSTALL_FIX}",
            backend="onnxruntime",
        ) from err
    return onnxruntime


class OnnxRuntimeBackend:
    """One ONNX Runtime inference session on the CPU."""

    def __init__(self, model_path: Path, device: str, options: BackendOptions) -> None:
        ort = _import()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = options.threads or os.cpu_count() or 1
        try:
            self._session = ort.InferenceSession(
                str(model_path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own untyped errors
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ModelLoadError(
                f"ONNX Runtime cannot load {model_path}: {first[:200]} — "
                "check that it is a valid .onnx model"
            ) from err
        self.placement = Placement("onnxruntime", normalize_device(device))
        self.inputs = _specs(self._session.get_inputs())
        self.outputs = _specs(self._session.get_outputs())
        self._in_names = [i.name for i in self._session.get_inputs()]

    def infer(self, inputs: list[NDArray]) -> list[NDArray]:
        """Run the session once."""
        feed = dict(zip(self._in_names, inputs, strict=True))
        return list(self._session.run(None, feed))

    preferred_workers = 1

    def fork(self) -> OnnxRuntimeBackend:
        """Another handle on the same session (``run`` is thread-safe)."""
        return copy.copy(self)

    def close(self) -> None:
        """Drop the session."""
        self._session = None


def _specs(ports: Any) -> tuple[TensorSpec, ...]:
    return tuple(
        TensorSpec(
            p.name,
            tuple(d if isinstance(d, int) else -1 for d in p.shape),
            np.dtype(_DTYPES.get(p.type, np.float32)),
        )
        for p in ports
    )


def load(model_path: Path, device: str, options: BackendOptions) -> OnnxRuntimeBackend:
    """Load ``model_path`` in an ONNX Runtime session."""
    return OnnxRuntimeBackend(model_path, device, options)


def probe() -> list[DeviceReport]:
    """Report whether ONNX Runtime is installed and its version."""
    try:
        ort = _import()
    except BackendUnavailable as err:
        return [
            DeviceReport(
                "onnxruntime", "cpu", False, "", str(err).split(" — ")[0], INSTALL_FIX
            )
        ]
    return [DeviceReport("onnxruntime", "cpu", True, f"onnxruntime {ort.__version__}")]
