"""What the pipeline hands to rules and sinks after a model ran on a frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeinfer.postprocess.results import Result
from edgeinfer.rules.alert import iso_time
from edgeinfer.sources.base import Frame


@dataclass(frozen=True, eq=False)
class Inference:
    """A frame and the model's result for it (reused from an earlier frame if gated)."""

    frame: Frame
    result: Result
    gated: bool
    model: str
    model_version: str = ""
    latency_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"kind": "result", "stream", "seq", "timestamp", "task", ...}``."""
        return {
            "kind": "result",
            "stream": self.frame.stream,
            "seq": self.frame.seq,
            "timestamp": iso_time(self.frame.timestamp),
            "model": self.model,
            "task": self.result.task,
            "gated": self.gated,
            **self.result.to_json(),
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms.items()},
        }
