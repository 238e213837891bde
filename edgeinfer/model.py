"""A model ready to run: selected backend, preprocessing, and the task's decoder.

``Model.predict(frame)`` is preprocess → infer → dequantize → decode for one BGR frame;
``Model.decode`` is the back half alone, for callers that run the backend themselves
(the bench and the stream scheduler).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edgeinfer.backends.base import NDArray
from edgeinfer.backends.select import Candidate, Selection, select_backend
from edgeinfer.errors import ConfigError
from edgeinfer.postprocess.decode import (
    Task,
    decode_classification,
    decode_pose,
    decode_raw,
    decode_ssd,
    detect_task,
    num_classes,
    ssd_order,
)
from edgeinfer.postprocess.labels import fit_labels, read_labels
from edgeinfer.postprocess.results import Result
from edgeinfer.preprocess.image import NO_LETTERBOX, ImagePreprocessor, Letterbox
from edgeinfer.preprocess.quantize import dequantize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to load and run one model (built from config or CLI flags)."""

    path: Path
    candidates: tuple[Candidate, ...]
    labels: Path | None = None
    task: Literal["auto", "classification", "detection", "pose", "raw"] = "auto"
    cpu_twin: Path | None = None
    label_offset: int | None = None
    score_threshold: float = 0.5
    top_k: int = 5
    resize: Literal["stretch", "letterbox"] = "stretch"
    color: Literal["rgb", "bgr"] = "rgb"
    interpolation: Literal["linear", "area", "nearest"] = "linear"
    mean: float | Sequence[float] | None = None
    std: float | Sequence[float] | None = None
    name: str = ""
    version: str = ""
    variants: tuple[tuple[str, Path], ...] = ()  # (accelerator kind, file)
    # Samples of drift statistics ("score", "input") from the model's bundle.
    drift_reference: tuple[tuple[str, tuple[float, ...]], ...] = ()

    def drift_sample(self, statistic: str) -> list[float] | None:
        """The bundle's reference sample of ``statistic``, if it has one."""
        return next((list(v) for k, v in self.drift_reference if k == statistic), None)


class Model:
    """A loaded model; not thread-safe (one caller at a time)."""

    def __init__(self, spec: ModelSpec, selection: Selection) -> None:
        self.spec = spec
        self.selection = selection
        self.backend = selection.backend
        outputs = self.backend.outputs
        self.task: Task = detect_task(outputs) if spec.task == "auto" else spec.task
        self.labels: dict[int, str] = {}
        if spec.labels is not None:
            self.labels = fit_labels(
                read_labels(spec.labels),
                num_classes(outputs, self.task),
                spec.label_offset,
                spec.labels,
            )
        self._ssd_order = (
            ssd_order(outputs) if self.task == "detection" else (0, 1, 2, 3)
        )
        self._preprocessor: ImagePreprocessor | None = None

    @classmethod
    def load(cls, spec: ModelSpec) -> Model:
        """Select a backend for ``spec`` and prepare its decoder."""
        selection = select_backend(
            spec.path, list(spec.candidates), spec.cpu_twin, dict(spec.variants)
        )
        try:
            return cls(spec, selection)
        except Exception:
            selection.backend.close()
            raise

    def fork(self) -> Model:
        """Another handle on this model for another worker thread: its own backend
        handle (interpreter or infer request) and its own preprocessing buffers."""
        sel = self.selection
        return Model(
            self.spec, Selection(sel.backend.fork(), sel.model_path, sel.skipped)
        )

    @property
    def preprocessor(self) -> ImagePreprocessor:
        """The image preprocessor for the first input (built on first use)."""
        if self._preprocessor is None:
            if self.spec.task == "raw" or len(self.backend.inputs) != 1:
                raise ConfigError(
                    f"model {self.spec.path} does not take one image — "
                    "feed it tensors (.npy inputs) instead"
                )
            self._preprocessor = ImagePreprocessor(
                self.backend.inputs[0],
                resize=self.spec.resize,
                color=self.spec.color,
                interpolation=self.spec.interpolation,
                mean=self.spec.mean,
                std=self.spec.std,
            )
        return self._preprocessor

    def predict(self, frame: NDArray) -> Result:
        """Run one BGR uint8 frame through the whole model."""
        tensor, letterbox = self.preprocessor(frame)
        return self.decode(self.backend.infer([tensor]), letterbox)

    def decode(
        self, outputs: list[NDArray], letterbox: Letterbox = NO_LETTERBOX
    ) -> Result:
        """Dequantize the backend's native outputs and decode them for the task."""
        specs = self.backend.outputs
        real = [dequantize(t, s) for t, s in zip(outputs, specs, strict=True)]
        if self.task == "classification":
            return decode_classification(real[0], self.labels, self.spec.top_k)
        if self.task == "detection":
            return decode_ssd(
                real, self._ssd_order, self.labels, self.spec.score_threshold, letterbox
            )
        if self.task == "pose":
            return decode_pose(real[0], letterbox)
        return decode_raw(real, specs)

    def close(self) -> None:
        """Release the backend."""
        self.backend.close()
