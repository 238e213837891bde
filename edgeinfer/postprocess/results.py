"""Decoded results: what a model said about one input, as frozen dataclasses.

Every result has ``to_json()`` giving the fields of the CLI's JSON contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BBox:
    """An axis-aligned box in coordinates normalised to the frame (0..1)."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @property
    def area(self) -> float:
        """Area as a fraction of the frame."""
        return max(0.0, self.xmax - self.xmin) * max(0.0, self.ymax - self.ymin)

    def iou(self, other: BBox) -> float:
        """Intersection over union with ``other`` (0..1)."""
        inter = BBox(
            max(self.xmin, other.xmin),
            max(self.ymin, other.ymin),
            min(self.xmax, other.xmax),
            min(self.ymax, other.ymax),
        ).area
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def as_list(self) -> list[float]:
        """``[xmin, ymin, xmax, ymax]`` rounded to 4 decimals."""
        return [round(v, 4) for v in (self.xmin, self.ymin, self.xmax, self.ymax)]


@dataclass(frozen=True)
class Class:
    """One class and its score."""

    index: int
    label: str
    score: float

    def to_json(self) -> dict[str, Any]:
        """``{"index", "label", "score"}``."""
        return {"index": self.index, "label": self.label, "score": round(self.score, 5)}


@dataclass(frozen=True)
class Classification:
    """The top classes of a classifier, best first."""

    top: tuple[Class, ...]
    task = "classification"

    def to_json(self) -> dict[str, Any]:
        """``{"top": [...]}``."""
        return {"top": [c.to_json() for c in self.top]}


@dataclass(frozen=True)
class Detection:
    """One detected object."""

    index: int
    label: str
    score: float
    box: BBox

    def to_json(self) -> dict[str, Any]:
        """``{"index", "label", "score", "box": [xmin, ymin, xmax, ymax]}``."""
        return {
            **Class(self.index, self.label, self.score).to_json(),
            "box": self.box.as_list(),
        }


@dataclass(frozen=True)
class Detections:
    """The objects a detector found above its score threshold, best first."""

    items: tuple[Detection, ...]
    task = "detection"

    def to_json(self) -> dict[str, Any]:
        """``{"detections": [...]}``."""
        return {"detections": [d.to_json() for d in self.items]}


@dataclass(frozen=True)
class Keypoint:
    """One body keypoint, position normalised to the frame."""

    name: str
    x: float
    y: float
    score: float

    def to_json(self) -> dict[str, Any]:
        """``{"name", "x", "y", "score"}``."""
        return {
            "name": self.name,
            "x": round(self.x, 4),
            "y": round(self.y, 4),
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class Pose:
    """Keypoints of one person."""

    keypoints: tuple[Keypoint, ...]
    task = "pose"

    def to_json(self) -> dict[str, Any]:
        """``{"keypoints": [...]}``."""
        return {"keypoints": [k.to_json() for k in self.keypoints]}


@dataclass(frozen=True)
class RawOutputs:
    """Dequantized output tensors, for models edgeinfer has no decoder for."""

    tensors: tuple[tuple[str, tuple[int, ...], tuple[float, ...]], ...]
    task = "raw"

    def to_json(self) -> dict[str, Any]:
        """``{"outputs": [{"name", "shape", "values"}]}`` (values flattened)."""
        return {
            "outputs": [
                {"name": n, "shape": list(s), "values": [round(v, 6) for v in vals]}
                for n, s, vals in self.tensors
            ]
        }


Result = Classification | Detections | Pose | RawOutputs
