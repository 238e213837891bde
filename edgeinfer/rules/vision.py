"""Vision rules: conditions on what a model found in a stream's frames.

Every rule looks at the items of one label with a score at or above ``min_score``,
optionally only those whose box centre lies inside a polygon ``zone`` (normalised
0..1 frame coordinates; zones apply to detections, a classification has no boxes and
counts as the whole frame). Rules then ask: is the label there (``LabelRule``), are
there too many or too few (``CountRule``), has it been missing for too long
(``AbsentRule``), or is a model's anomaly score high (``ScoreRule``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgeinfer.pipeline.events import Inference
from edgeinfer.postprocess.results import (
    BBox,
    Classification,
    Detections,
    RawOutputs,
    Result,
)
from edgeinfer.rules.alert import Alert, Severity
from edgeinfer.rules.trigger import Trigger
from edgeinfer.sinks.snapshot import encode_snapshot

Zone = Sequence[tuple[float, float]]


def point_in_zone(x: float, y: float, zone: Zone) -> bool:
    """Even-odd ray casting: True when (x, y) lies inside the polygon ``zone``."""
    inside = False
    n = len(zone)
    for i in range(n):
        (x0, y0), (x1, y1) = zone[i], zone[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _in_zone(box: BBox, zone: Zone | None) -> bool:
    if zone is None:
        return True
    return point_in_zone((box.xmin + box.xmax) / 2, (box.ymin + box.ymax) / 2, zone)


def label_scores(
    result: Result, label: str, min_score: float, zone: Zone | None = None
) -> list[float]:
    """Scores (≥ ``min_score``) of the items labelled ``label`` (inside ``zone``)."""
    if isinstance(result, Classification):
        scores = [c.score for c in result.top if c.label == label]
    elif isinstance(result, Detections):
        scores = [
            d.score for d in result.items if d.label == label and _in_zone(d.box, zone)
        ]
    else:
        return []
    return [s for s in scores if s >= min_score]


class _VisionRule:
    """Name, severity, snapshot choice, and building the alert."""

    def __init__(self, name: str, severity: Severity, snapshot: bool) -> None:
        self.name, self.severity, self.snapshot = name, severity, snapshot

    def _alert(self, inference: Inference, values: dict[str, Any]) -> Alert:
        frame = inference.frame
        return Alert(
            stream=frame.stream,
            rule=self.name,
            severity=self.severity,
            timestamp=frame.timestamp,
            values={**values, "seq": frame.seq},
            model=inference.model,
            model_version=inference.model_version,
            snapshot=encode_snapshot(frame.image, inference.result)
            if self.snapshot
            else None,
        )


class LabelRule(_VisionRule):
    """``label`` with score ≥ ``min_score`` (inside ``zone``) in ``frames``
    consecutive frames."""

    def __init__(
        self,
        name: str,
        label: str,
        *,
        min_score: float = 0.5,
        frames: int = 1,
        zone: Zone | None = None,
        severity: Severity = "warning",
        cooldown_s: float = 0.0,
        snapshot: bool = True,
    ) -> None:
        super().__init__(name, severity, snapshot)
        self.label, self.min_score, self.zone = label, min_score, zone
        self._trigger = Trigger(frames, cooldown_s)

    def on_inference(self, inference: Inference) -> Alert | None:
        """Feed one result; return an alert when the rule fires."""
        scores = label_scores(inference.result, self.label, self.min_score, self.zone)
        if not self._trigger.update(bool(scores), inference.frame.timestamp):
            return None
        return self._alert(
            inference,
            {
                "label": self.label,
                "score": round(max(scores), 4),
                "count": len(scores),
                "frames": self._trigger.consecutive,
            },
        )


class CountRule(_VisionRule):
    """The number of ``label`` items (inside ``zone``) above ``above`` or below
    ``below`` for ``frames`` consecutive frames: a crowd, an empty station."""

    def __init__(
        self,
        name: str,
        label: str,
        *,
        above: int | None = None,
        below: int | None = None,
        min_score: float = 0.5,
        frames: int = 1,
        zone: Zone | None = None,
        severity: Severity = "warning",
        cooldown_s: float = 0.0,
        snapshot: bool = True,
    ) -> None:
        super().__init__(name, severity, snapshot)
        self.label, self.min_score, self.zone = label, min_score, zone
        self.above, self.below = above, below
        self._trigger = Trigger(frames, cooldown_s)

    def on_inference(self, inference: Inference) -> Alert | None:
        """Feed one result; return an alert when the rule fires."""
        n = len(label_scores(inference.result, self.label, self.min_score, self.zone))
        high = self.above is not None and n > self.above
        low = self.below is not None and n < self.below
        if not self._trigger.update(high or low, inference.frame.timestamp):
            return None
        bound = {"above": self.above} if high else {"below": self.below}
        return self._alert(
            inference,
            {
                "label": self.label,
                "count": n,
                **bound,
                "frames": self._trigger.consecutive,
            },
        )


class AbsentRule(_VisionRule):
    """``label`` (inside ``zone``) not seen for ``seconds`` of the stream's time: the
    operator left the station, the product stopped arriving. Raised once; it re-arms
    when the label is seen again."""

    def __init__(
        self,
        name: str,
        label: str,
        *,
        seconds: float,
        min_score: float = 0.5,
        zone: Zone | None = None,
        severity: Severity = "warning",
        snapshot: bool = True,
    ) -> None:
        super().__init__(name, severity, snapshot)
        self.label, self.min_score, self.zone = label, min_score, zone
        self.seconds = seconds
        self._last_seen: float | None = None
        self._raised = False

    def on_inference(self, inference: Inference) -> Alert | None:
        """Feed one result; return an alert when the rule fires."""
        now = inference.frame.timestamp
        if self._last_seen is None:
            self._last_seen = now  # the absence is timed from the first frame
        if label_scores(inference.result, self.label, self.min_score, self.zone):
            self._last_seen, self._raised = now, False
            return None
        absent = now - self._last_seen
        if self._raised or absent < self.seconds:
            return None
        self._raised = True
        return self._alert(
            inference, {"label": self.label, "absent_s": round(absent, 3)}
        )


class ScoreRule(_VisionRule):
    """A model's anomaly score ≥ ``min_score`` for ``frames`` consecutive frames.

    The score is the largest value of output tensor ``output`` for models without a
    decoder (an autoencoder's reconstruction error, an anomaly head), or the score of
    ``label`` for a classifier.
    """

    def __init__(
        self,
        name: str,
        *,
        min_score: float,
        output: int = 0,
        label: str | None = None,
        frames: int = 1,
        severity: Severity = "warning",
        cooldown_s: float = 0.0,
        snapshot: bool = True,
    ) -> None:
        super().__init__(name, severity, snapshot)
        self.min_score, self.output, self.label = min_score, output, label
        self._trigger = Trigger(frames, cooldown_s)

    def score(self, result: Result) -> float | None:
        """The anomaly score in ``result``, or None when it has none."""
        if isinstance(result, RawOutputs) and self.output < len(result.tensors):
            values = result.tensors[self.output][2]
            return max(values) if values else None
        if isinstance(result, Classification) and self.label is not None:
            return max(
                (c.score for c in result.top if c.label == self.label), default=0.0
            )
        return None

    def on_inference(self, inference: Inference) -> Alert | None:
        """Feed one result; return an alert when the rule fires."""
        score = self.score(inference.result)
        hit = score is not None and score >= self.min_score
        if not self._trigger.update(hit, inference.frame.timestamp):
            return None
        return self._alert(
            inference,
            {
                "score": round(float(score or 0.0), 6),
                "min_score": self.min_score,
                "frames": self._trigger.consecutive,
            },
        )


VisionRule = LabelRule | CountRule | AbsentRule | ScoreRule
