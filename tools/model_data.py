"""Images in, model tensors out: the data side of the model tools.

Calibration and validation frames come from a folder of images or an ``.npy`` batch of
uint8 BGR frames ``[N, H, W, 3]`` (the order OpenCV and cameras give). They are turned
into tensors by edgeinfer's own ``ImagePreprocessor`` with the same settings the
device uses (input size from the model, ``mean``/``std``, resize interpolation), so the
ranges the quantizer sees are the ranges the device feeds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from edgeinfer.backends.base import Placement, TensorSpec
from edgeinfer.backends.select import Candidate
from edgeinfer.model import Model, ModelSpec
from edgeinfer.preprocess.image import ImagePreprocessor, read_image
from edgeinfer.updates.validate import first_output

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
BACKEND_OF = {".onnx": "onnxruntime", ".xml": "openvino", ".tflite": "litert"}
DEVICE_OF = {"onnxruntime": "cpu", "openvino": "CPU", "litert": "cpu"}


@dataclass(frozen=True)
class Preprocessing:
    """How frames become input tensors: normalisation and resize interpolation."""

    mean: float | Sequence[float] | None = None
    std: float | Sequence[float] | None = None
    interpolation: Literal["linear", "area", "nearest"] = "linear"


def read_frames(source: Path, limit: int | None = None) -> NDArray[np.uint8]:
    """BGR uint8 frames from an ``.npy`` batch or a folder of images (sorted)."""
    if source.suffix == ".npy":
        frames: NDArray[np.uint8] = np.load(source, allow_pickle=False)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise SystemExit(
                f"{source}: expected uint8 BGR frames [N, H, W, 3], "
                f"got {frames.dtype} {list(frames.shape)}"
            )
        return frames[:limit]
    paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise SystemExit(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    images = [read_image(p) for p in paths[:limit]]
    shapes = {im.shape for im in images}
    if len(shapes) == 1:
        return np.stack(images)
    # Frames of different sizes: keep them apart, the preprocessor resizes each.
    out = np.empty(len(images), dtype=object)
    out[:] = images
    return out


def read_labels(path: Path, names: Sequence[str] = ()) -> NDArray[np.int64]:
    """Class indices, one per line: an integer, or a name found in ``names``."""
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    unknown = sorted({v for v in lines if not v.isdigit() and v not in names})
    if unknown:
        raise SystemExit(
            f"{path}: {', '.join(unknown)} not class indices nor names from --labels"
        )
    return np.array(
        [int(v) if v.isdigit() else list(names).index(v) for v in lines], np.int64
    )


def float_input(shape: Sequence[int], name: str = "input") -> TensorSpec:
    """The spec of a float32 image input of ``shape`` (NHWC or NCHW)."""
    return TensorSpec(name, tuple(int(d) for d in shape), np.dtype(np.float32))


def tensors(
    frames: NDArray[np.uint8], spec: TensorSpec, prep: Preprocessing
) -> Iterator[NDArray[np.float32]]:
    """One preprocessed input tensor per frame (a copy: the preprocessor reuses its
    buffer)."""
    preprocess = ImagePreprocessor(
        spec, interpolation=prep.interpolation, mean=prep.mean, std=prep.std
    )
    for frame in frames:
        yield preprocess(frame)[0].copy()


def load_model(path: Path, prep: Preprocessing, backend: str | None = None) -> Model:
    """``path`` loaded by edgeinfer on ``backend`` (default: by file type), CPU."""
    backend = backend or BACKEND_OF[path.suffix]
    placement = Placement(backend, DEVICE_OF[backend])
    return Model.load(
        ModelSpec(
            path=path,
            candidates=(Candidate(placement),),
            task="classification",
            interpolation=prep.interpolation,
            mean=prep.mean,
            std=prep.std,
            name=path.stem,
        )
    )


def run_model(
    path: Path,
    frames: Iterable[NDArray[np.uint8]],
    prep: Preprocessing,
    backend: str | None,
) -> NDArray[np.float32]:
    """First output (dequantized, flattened) per frame, run through edgeinfer."""
    model = load_model(path, prep, backend)
    try:
        return np.stack([first_output(model, f)[0] for f in frames]).astype(np.float32)
    finally:
        model.close()


def model_input(path: Path, backend: str | None = None) -> Any:
    """The first input ``TensorSpec`` of a model edgeinfer can load."""
    model = load_model(path, Preprocessing(), backend)
    try:
        return model.backend.inputs[0]
    finally:
        model.close()
