"""Backends: an explicit registry of runtime adapters, each imported only when used.

``BACKENDS`` maps a backend name to the module that implements it. Every such module
exposes ``load(model_path, device, options) -> Backend``,
``probe() -> list[DeviceReport]`` and ``normalize_device(device) -> str``, and imports
its runtime lazily inside them, so a device without OpenVINO never imports it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from edgeinfer.backends.base import Backend, BackendOptions, Placement
from edgeinfer.errors import ConfigError

BACKENDS: dict[str, str] = {
    "litert": "edgeinfer.backends.litert",
    "openvino": "edgeinfer.backends.openvino",
    "onnxruntime": "edgeinfer.backends.onnxruntime",
}


def backend_module(name: str) -> ModuleType:
    """Import and return the module of backend ``name``."""
    try:
        path = BACKENDS[name.lower()]
    except KeyError:
        known = ", ".join(BACKENDS)
        raise ConfigError(f"unknown backend {name!r} — use one of: {known}") from None
    return importlib.import_module(path)


def normalize_placement(backend: str, device: str | None = None) -> Placement:
    """Validate ``backend`` and ``device`` and return the canonical placement."""
    module = backend_module(backend)
    return Placement(backend.lower(), module.normalize_device(device or ""))


def load_backend(
    placement: Placement, model_path: Path, options: BackendOptions
) -> Backend:
    """Load ``model_path`` on ``placement`` (BackendUnavailable, ModelLoadError)."""
    backend: Backend = backend_module(placement.backend).load(
        model_path, placement.device, options
    )
    return backend
