"""The backend protocol: what every runtime adapter offers, and the tensor description.

A backend only runs tensors. It takes the model's native input tensors (already
quantized, see ``edgeinfer.quantize``) and returns the native output tensors; decoding
them into classes, boxes or keypoints is postprocess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of one tensor: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int

    @property
    def is_identity(self) -> bool:
        """True when the tensor carries real values (no quantization)."""
        return self.scale == 0.0


NO_QUANT = Quantization(0.0, 0)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor: name, static shape, NumPy dtype and quantization."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    quant: Quantization = NO_QUANT

    def describe(self) -> str:
        """A short human form, e.g. ``input [1,224,224,3] uint8 q(0.0078,128)``."""
        dims = ",".join(str(d) for d in self.shape)
        text = f"{self.name} [{dims}] {self.dtype.name}"
        if not self.quant.is_identity:
            text += f" q({self.quant.scale:.6g},{self.quant.zero_point})"
        return text


@dataclass(frozen=True)
class Placement:
    """Where a model runs: a backend name and a device string for that backend."""

    backend: str
    device: str

    def __str__(self) -> str:
        return f"{self.backend}:{self.device}"


@dataclass(frozen=True)
class BackendOptions:
    """Options common to every backend; each backend reads the ones it understands.

    ``threads`` is the CPU thread count (0 lets the runtime choose), ``hint`` the
    OpenVINO performance hint (``latency`` or ``throughput``), ``cache_dir`` where
    compiled models are cached between runs, ``streams`` how many requests may be in
    flight at once.
    """

    threads: int = 0
    hint: str = "latency"
    cache_dir: Path | None = None
    streams: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


NDArray = npt.NDArray[Any]


@runtime_checkable
class Backend(Protocol):
    """A loaded model on one device. Thread-safety: one caller at a time per instance,
    except ``infer_async`` queues, which the backend serialises itself."""

    placement: Placement
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def infer(self, inputs: list[NDArray]) -> list[NDArray]:
        """Run once on native-dtype inputs; return native-dtype outputs (copies)."""
        ...

    @property
    def preferred_workers(self) -> int:
        """How many workers, each with its own fork, keep the device busy."""
        ...

    def fork(self) -> Backend:
        """Another handle on the same loaded model for another worker thread."""
        ...

    def close(self) -> None:
        """Release the runtime's resources; the backend is unusable afterwards."""
        ...


class BackendFactory(Protocol):
    """The module-level entry each backend module exposes."""

    def __call__(
        self, model_path: Path, device: str, options: BackendOptions
    ) -> Backend: ...
