"""Per-version health of the running models, and the probation verdict.

``HealthTracker`` is a sink: it counts, per (model, version), the frames inferred,
their inference time and the alerts raised on the streams the model serves. Errors
come from the streams' own counters (a failing frame yields no result to count).
``judge`` compares a new version's numbers with the version it replaced.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from edgeinfer.config.updates import ProbationConfig
from edgeinfer.pipeline.events import Inference
from edgeinfer.pipeline.stats import LatencyWindow
from edgeinfer.rules.alert import Alert


@dataclass
class Health:
    """What one model version did: frames, errors, alerts, inference time (ms)."""

    frames: int = 0
    errors: int = 0
    alerts: int = 0
    latency: LatencyWindow = field(default_factory=lambda: LatencyWindow(256))

    @property
    def error_rate(self) -> float:
        """Failed share of the frames given to this version."""
        return self.errors / max(1, self.frames + self.errors)

    @property
    def alert_rate(self) -> float:
        """Alerts per inferred frame."""
        return self.alerts / max(1, self.frames)

    @property
    def p50_ms(self) -> float:
        """Median inference time (ms) over the recent window."""
        return self.latency.percentiles()["p50"]

    def to_json(self) -> dict[str, float]:
        """The numbers as reported on model/state."""
        return {
            "frames": self.frames,
            "errors": self.errors,
            "alerts": self.alerts,
            "error_rate": round(self.error_rate, 4),
            "alert_rate": round(self.alert_rate, 4),
            "infer_p50_ms": self.p50_ms,
        }


class HealthTracker:
    """A sink keeping ``Health`` per (model name, version)."""

    def __init__(self, stream_models: dict[str, str]) -> None:
        self.stream_models = dict(stream_models)  # camera stream -> model name
        self.versions: dict[str, str] = {}  # model name -> version serving now
        self._health: dict[tuple[str, str], Health] = {}
        self._lock = threading.Lock()
        # Called with every result (shadow candidates take their sample here).
        self.observers: list[Callable[[Inference], None]] = []

    def health(self, model: str, version: str) -> Health:
        """The (live) record of ``model`` at ``version``."""
        with self._lock:
            return self._health.setdefault((model, version), Health())

    def serving(self, model: str, version: str) -> None:
        """``version`` of ``model`` serves from now on (alerts count against it)."""
        self.versions[model] = version

    def add_errors(self, model: str, count: int) -> None:
        """Count ``count`` failed frames against the version serving ``model``."""
        if count > 0:
            self.health(model, self.versions.get(model, "")).errors += count

    def on_result(self, inference: Inference) -> None:
        """Count an inferred (not gated) frame and its inference time."""
        for observe in list(self.observers):
            observe(inference)
        if inference.gated:
            return
        h = self.health(inference.model, inference.model_version)
        with self._lock:
            h.frames += 1
            h.latency.add(inference.latency_ms.get("infer", 0.0))

    def on_alert(self, alert: Alert) -> None:
        """Count an alert against the model version serving its stream."""
        model = self.stream_models.get(alert.stream)
        if model is not None:
            h = self.health(model, self.versions.get(model, ""))
            with self._lock:
                h.alerts += 1


def judge(new: Health, old: Health | None, limits: ProbationConfig) -> str | None:
    """Why ``new`` regressed against ``old`` (None: no regression, or too early).

    Without enough frames from the old version, the new one is held to the limits
    against a clean record (no errors, no alerts) and its latency is not compared.
    """
    if new.frames + new.errors < limits.min_frames:
        return None
    enough = old is not None and old.frames >= limits.min_frames
    base = old if old is not None and enough else Health()
    if new.error_rate - base.error_rate > limits.max_error_rate_increase:
        return (
            f"error rate {new.error_rate:.1%} against {base.error_rate:.1%} before "
            f"({new.errors} failed of {new.frames + new.errors} frames)"
        )
    if new.alert_rate - base.alert_rate > limits.max_alert_rate_increase:
        return (
            f"alert rate {new.alert_rate:.3f} per frame against "
            f"{base.alert_rate:.3f} before ({new.alerts} alerts in {new.frames} frames)"
        )
    if enough and new.p50_ms > limits.max_latency_factor * base.p50_ms + 0.5:
        return (
            f"median inference {new.p50_ms:.2f} ms against {base.p50_ms:.2f} ms before"
        )
    return None
