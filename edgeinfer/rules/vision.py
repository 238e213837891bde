"""Vision rules: conditions on what a model found in a stream's frames."""

from __future__ import annotations

from edgeinfer.pipeline.events import Inference
from edgeinfer.postprocess.results import Classification, Detections
from edgeinfer.rules.alert import Alert, Severity
from edgeinfer.rules.trigger import Trigger
from edgeinfer.sinks.snapshot import encode_snapshot


class LabelRule:
    """``label`` with score ≥ ``min_score`` in ``frames`` consecutive frames."""

    def __init__(
        self,
        name: str,
        label: str,
        *,
        min_score: float = 0.5,
        frames: int = 1,
        severity: Severity = "warning",
        cooldown_s: float = 0.0,
        snapshot: bool = True,
    ) -> None:
        self.name, self.label, self.min_score = name, label, min_score
        self.severity, self.snapshot = severity, snapshot
        self._trigger = Trigger(frames, cooldown_s)

    def best_score(self, inference: Inference) -> tuple[float, int]:
        """Highest score of ``label`` in the result, and how many items carry it."""
        result = inference.result
        if isinstance(result, Classification):
            scores = [c.score for c in result.top if c.label == self.label]
        elif isinstance(result, Detections):
            scores = [d.score for d in result.items if d.label == self.label]
        else:
            return 0.0, 0
        hits = [s for s in scores if s >= self.min_score]
        return (max(scores, default=0.0), len(hits))

    def on_inference(self, inference: Inference) -> Alert | None:
        """Feed one result; return an alert when the rule fires."""
        score, count = self.best_score(inference)
        frame = inference.frame
        if not self._trigger.update(count > 0, frame.timestamp):
            return None
        return Alert(
            stream=frame.stream,
            rule=self.name,
            severity=self.severity,
            timestamp=frame.timestamp,
            values={
                "label": self.label,
                "score": round(score, 4),
                "count": count,
                "frames": self._trigger.consecutive,
                "seq": frame.seq,
            },
            model=inference.model,
            model_version=inference.model_version,
            snapshot=encode_snapshot(frame.image, inference.result)
            if self.snapshot
            else None,
        )
