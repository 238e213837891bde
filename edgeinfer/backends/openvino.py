"""OpenVINO backend: .tflite, .onnx and IR (.xml) models on Intel CPU, GPU, NPU or AUTO.

Compiled models are cached in ``options.cache_dir`` so a restart does not recompile.
The performance hint (``latency`` or ``throughput``) and the number of requests in
flight come from the options; ``submit`` runs requests asynchronously on an
``AsyncInferQueue`` so several streams can keep the device busy.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.backends import intel
from edgeinfer.backends.base import (
    NO_QUANT,
    BackendOptions,
    NDArray,
    Placement,
    TensorSpec,
)
from edgeinfer.backends.probe import DeviceReport
from edgeinfer.backends.tflite_meta import read_tflite_info
from edgeinfer.errors import BackendUnavailable, ConfigError, ModelLoadError

log = logging.getLogger(__name__)

INSTALL_FIX = "pip install openvino"
_DEVICE_RE = re.compile(r"^(CPU|GPU(\.\d+)?|NPU|AUTO|(AUTO|HETERO|MULTI):[A-Z0-9.,]+)$")
Callback = Callable[[list[NDArray] | BaseException, Any], None]


def normalize_device(device: str) -> str:
    """Return the canonical (upper-case) device; reject unknown forms."""
    dev = (device or "CPU").strip().upper()
    if not _DEVICE_RE.match(dev):
        raise ConfigError(
            f"unknown OpenVINO device {device!r} — use CPU, GPU, GPU.N, NPU, AUTO, "
            "or AUTO:/HETERO:/MULTI: with a list"
        )
    return dev


@cache
def core() -> Any:
    """The process-wide ``openvino.Core`` (imported on first use)."""
    try:
        import openvino as ov  # noqa: PLC0415 -- lazy: devices without OpenVINO
    except ImportError as err:
        raise BackendUnavailable(
            f"OpenVINO is not installed ({err}) — {INSTALL_FIX}", backend="openvino"
        ) from err
    return ov.Core()


class OpenVINOBackend:
    """One compiled model on one OpenVINO device."""

    def __init__(self, model_path: Path, device: str, options: BackendOptions) -> None:
        device = normalize_device(device)
        ov_core = core()
        intel.check_device(ov_core, device)
        if not model_path.is_file():
            raise ModelLoadError(f"model {model_path} does not exist — check the path")
        quant = _boundary_quantization(model_path)
        config: dict[str, Any] = {"PERFORMANCE_HINT": options.hint.upper()}
        if options.threads and device == "CPU":
            config["INFERENCE_NUM_THREADS"] = options.threads
        if options.streams > 1 and options.hint == "throughput":
            config["PERFORMANCE_HINT_NUM_REQUESTS"] = options.streams
        if precision := options.extra.get("precision"):
            config["INFERENCE_PRECISION_HINT"] = precision
        if options.cache_dir is not None:
            options.cache_dir.mkdir(parents=True, exist_ok=True)
            config["CACHE_DIR"] = str(options.cache_dir)
        try:
            self._compiled = ov_core.compile_model(str(model_path), device, config)
        except RuntimeError as err:
            raise ModelLoadError(_explain(model_path, device, err)) from err
        self.placement = Placement("openvino", device)
        self.inputs = _specs(self._compiled.inputs, quant[0])
        self.outputs = _specs(self._compiled.outputs, quant[1])
        self.optimal_requests = int(
            self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        )
        self._request = self._compiled.create_infer_request()
        self._queue: Any = None
        self._queue_lock = threading.Lock()
        self._streams, self._hint = options.streams, options.hint
        log.debug("compiled %s on openvino:%s %s", model_path, device, config)

    @property
    def preferred_workers(self) -> int:
        """How many workers, each with its own request, keep this device busy: the
        configured ``streams``; else, with the throughput hint, twice the runtime's
        optimal number of requests, so that a request waits at each of the device's
        streams while the other workers prepare their next frames (a worker's own
        request is idle while it preprocesses and decodes); else the optimal number."""
        if self._streams:
            return self._streams
        if self._hint == "throughput":
            return 2 * self.optimal_requests
        return self.optimal_requests

    def fork(self) -> OpenVINOBackend:
        """Another handle on the same compiled model, with its own infer request."""
        twin = copy.copy(self)
        twin._request = self._compiled.create_infer_request()
        twin._queue = None
        twin._queue_lock = threading.Lock()
        return twin

    def infer(self, inputs: list[NDArray]) -> list[NDArray]:
        """Run one synchronous request; return copies of the outputs."""
        req = self._request
        req.infer(inputs, share_inputs=True)
        return [req.get_output_tensor(i).data.copy() for i in range(len(self.outputs))]

    def submit(
        self, inputs: list[NDArray], callback: Callback, userdata: Any = None
    ) -> None:
        """Start an asynchronous request; blocks while every request is busy.

        The inputs are copied into the request, so the caller may reuse its buffers.
        ``callback(outputs_or_error, userdata)`` runs on an OpenVINO thread.
        """
        if self._queue is None:
            self.start_async(self.optimal_requests)
        self._queue.start_async(inputs, (callback, userdata), share_inputs=False)

    def start_async(self, requests: int) -> None:
        """Create the queue of ``requests`` asynchronous infer requests."""
        from openvino import AsyncInferQueue  # noqa: PLC0415 -- lazy import

        with self._queue_lock:
            if self._queue is not None:
                self._queue.wait_all()
            self._queue = AsyncInferQueue(self._compiled, max(1, requests))
            self._queue.set_callback(self._on_done)

    def _on_done(self, request: Any, data: tuple[Callback, Any]) -> None:
        callback, userdata = data
        try:
            outs = [
                request.get_output_tensor(i).data.copy()
                for i in range(len(self.outputs))
            ]
        except RuntimeError as err:
            callback(err, userdata)
            return
        callback(outs, userdata)

    def wait(self) -> None:
        """Block until every asynchronous request has finished."""
        if self._queue is not None:
            self._queue.wait_all()

    def close(self) -> None:
        """Finish outstanding requests and release the compiled model."""
        self.wait()
        self._queue = None
        self._request = None
        self._compiled = None


def _boundary_quantization(model_path: Path) -> tuple[tuple[TensorSpec, ...], ...]:
    """Quantization of inputs and outputs: from the file for .tflite, none otherwise."""
    if model_path.suffix.lower() != ".tflite":
        return (), ()
    info = read_tflite_info(model_path)
    return info.inputs, info.outputs


def _specs(ports: Any, meta: tuple[TensorSpec, ...]) -> tuple[TensorSpec, ...]:
    specs = []
    for i, port in enumerate(ports):
        shape = port.get_partial_shape()
        dims = tuple(d.get_length() if d.is_static else -1 for d in shape)
        dtype = np.dtype(port.get_element_type().to_dtype())
        try:
            name = port.get_any_name()
        except RuntimeError:
            name = f"output{i}"
        quant = meta[i].quant if i < len(meta) else NO_QUANT
        specs.append(TensorSpec(name, dims, dtype, quant))
    return tuple(specs)


def _explain(model_path: Path, device: str, err: Exception) -> str:
    text = str(err)
    op = re.search(r"No translator found for (\S+) node", text)
    if op:
        return (
            f"OpenVINO cannot read {model_path}: no translator for op {op.group(1)} — "
            "run this model on LiteRT, or export it without that op"
        )
    if "corrupted or malformed" in text or "malformed flatbuffer" in text:
        return (
            f"{model_path} is truncated or not a valid model — "
            "copy the file again and check its size and sha256"
        )
    detail = next((ln for ln in text.splitlines() if ln.strip()), type(err).__name__)
    return f"OpenVINO cannot compile {model_path} for {device}: {detail[:200]}"


def load(model_path: Path, device: str, options: BackendOptions) -> OpenVINOBackend:
    """Compile ``model_path`` for ``device`` (see module docstring)."""
    return OpenVINOBackend(model_path, device, options)


def probe() -> list[DeviceReport]:
    """Report every OpenVINO device present, and why an NPU or GPU is missing."""
    try:
        ov_core = core()
    except BackendUnavailable as err:
        return [
            DeviceReport(
                "openvino", "CPU", False, "", str(err).split(" — ")[0], INSTALL_FIX
            )
        ]
    return intel.probe(ov_core)
