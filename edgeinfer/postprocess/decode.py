"""Decoders from dequantized output tensors to results, and task detection by shape."""

from __future__ import annotations

from typing import Literal

import numpy as np

from edgeinfer.backends.base import NDArray, TensorSpec
from edgeinfer.errors import InputError, ModelLoadError
from edgeinfer.postprocess.results import (
    BBox,
    Class,
    Classification,
    Detection,
    Detections,
    Keypoint,
    Pose,
    RawOutputs,
)
from edgeinfer.preprocess.image import NO_LETTERBOX, Letterbox

Task = Literal["classification", "detection", "pose", "raw"]

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


def detect_task(outputs: tuple[TensorSpec, ...]) -> Task:
    """Guess the task from the output tensors' shapes (and SSD postprocess names)."""
    shapes = [tuple(d for d in o.shape if d != 1) for o in outputs]
    if len(outputs) == 4 and (
        any("Detection_PostProcess" in o.name for o in outputs)
        or any(len(s) == 2 and s[-1] == 4 for s in shapes)
    ):
        return "detection"
    if len(outputs) == 1 and shapes[0] in ((17, 3),):
        return "pose"
    if len(outputs) == 1 and len(shapes[0]) == 1 and shapes[0][0] > 1:
        return "classification"
    return "raw"


def num_classes(outputs: tuple[TensorSpec, ...], task: Task) -> int | None:
    """How many classes a classifier scores (None for tasks without a fixed count)."""
    if task != "classification":
        return None
    return int(np.prod([d for d in outputs[0].shape if d > 0]))


def decode_classification(
    scores: NDArray, labels: dict[int, str], top_k: int
) -> Classification:
    """Top ``top_k`` classes of a score vector, best first."""
    flat = scores.reshape(-1)
    k = min(top_k, flat.size)
    idx = np.argpartition(-flat, k - 1)[:k]
    idx = idx[np.argsort(-flat[idx], kind="stable")]
    return Classification(
        tuple(
            Class(int(i), labels.get(int(i), str(int(i))), float(flat[i])) for i in idx
        )
    )


def ssd_order(outputs: tuple[TensorSpec, ...]) -> tuple[int, int, int, int]:
    """Indexes of (boxes, classes, scores, count) among an SSD postprocess's outputs.

    TF1 exports give them in that order; TF2 exports name them
    ``StatefulPartitionedCall:N`` in another order, told apart by shape at run time.
    """
    names = [o.name for o in outputs]
    if all("Detection_PostProcess" in n for n in names):
        order = sorted(
            range(4),
            key=lambda i: names[i].rsplit(":", 1)[-1] if ":" in names[i] else "0",
        )
        return order[0], order[1], order[2], order[3]
    return 0, 1, 2, 3


def decode_ssd(
    tensors: list[NDArray],
    order: tuple[int, int, int, int],
    labels: dict[int, str],
    threshold: float,
    letterbox: Letterbox = NO_LETTERBOX,
) -> Detections:
    """Detections above ``threshold`` from an SSD postprocess op's four outputs.

    Boxes arrive as (ymin, xmin, ymax, xmax) normalised to the model input; they leave
    as ``BBox`` normalised to the frame, clipped to 0..1.
    """
    scores = tensors[order[2]].reshape(-1)
    count = min(int(tensors[order[3]].reshape(-1)[0]), scores.size)
    # Python floats in one step each: indexing NumPy arrays item by item costs more
    # than the rest of the loop.
    boxes = tensors[order[0]].reshape(-1, 4)[:count].tolist()
    classes = tensors[order[1]].reshape(-1)[:count].tolist()
    left, top = letterbox.left, letterbox.top
    width, height = letterbox.width, letterbox.height
    items = []
    for i, score in enumerate(scores[:count].tolist()):
        if score < threshold:
            continue
        cls = int(classes[i])
        if labels and cls not in labels:
            raise InputError(
                f"detector returned class {cls}, which the labels file does not have "
                "— use the labels file made for this model (or set label_offset)"
            )
        ymin, xmin, ymax, xmax = boxes[i]
        box = BBox(  # Letterbox.to_frame, inline
            _unit((xmin - left) / width),
            _unit((ymin - top) / height),
            _unit((xmax - left) / width),
            _unit((ymax - top) / height),
        )
        items.append(Detection(cls, labels.get(cls, str(cls)), score, box))
    items.sort(key=lambda d: -d.score)
    return Detections(tuple(items))


def _unit(v: float) -> float:
    """``v`` clipped to 0..1 (NaN to 0)."""
    return v if 0.0 <= v <= 1.0 else 1.0 if v > 1.0 else 0.0


def decode_pose(tensor: NDArray, letterbox: Letterbox = NO_LETTERBOX) -> Pose:
    """MoveNet-style ``[1,1,17,3]`` (y, x, score) output to named keypoints."""
    points = tensor.reshape(-1, 3)
    if points.shape[0] != len(COCO_KEYPOINTS):
        raise ModelLoadError(
            f"pose output has {points.shape[0]} keypoints, expected 17 (COCO) — "
            "use task raw for this model"
        )
    kps = []
    for name, (y, x, s) in zip(COCO_KEYPOINTS, points, strict=True):
        fx, fy = letterbox.to_frame(float(x), float(y))
        kps.append(Keypoint(name, fx, fy, float(s)))
    return Pose(tuple(kps))


def decode_raw(tensors: list[NDArray], specs: tuple[TensorSpec, ...]) -> RawOutputs:
    """Every output as (name, shape, flattened values)."""
    return RawOutputs(
        tuple(
            (spec.name, tuple(t.shape), tuple(float(v) for v in t.reshape(-1)))
            for spec, t in zip(specs, tensors, strict=True)
        )
    )
