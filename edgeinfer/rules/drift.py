"""Drift: the early warning that a model no longer fits its site.

A ``DriftMonitor`` compares the distribution of a live statistic with a reference
using the population stability index (PSI),

    PSI = sum over bins of (live - ref) * ln(live / ref),

with bins at the reference's deciles, so each reference bin holds a tenth of it. By
the usual reading, PSI under 0.1 is no change, 0.1 to 0.25 a moderate shift, over 0.25
a major one. The reference is given in the rule, or comes from the model's bundle
(its manifest's ``drift_reference``), or is the first ``reference_size`` values the
stream produces ("the first hours of operation"). When a camera's model changes, a
rule not pinned to its own reference starts again from the new model's sample (or
learns anew, for ``score``: a new model has its own score distribution).

``DriftRule`` watches one statistic of a stream: for cameras the frame's mean
brightness (``input``) or the model's top score (``score``); for sensors a channel's
value. It raises one ``drift`` alert when PSI over the last ``window`` values reaches
``threshold``, and re-arms once PSI falls below half of it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np

from edgeinfer.pipeline.events import Inference
from edgeinfer.postprocess.results import Classification, Detections
from edgeinfer.rules.alert import Alert, Severity
from edgeinfer.sources.base import Reading

_EPS = 1e-4  # floor for a bin's share: an empty bin would make PSI infinite


def psi(reference: Sequence[float], live: Sequence[float]) -> float:
    """Population stability index of ``live`` against ``reference`` (bin shares)."""
    total = 0.0
    for ref, now in zip(reference, live, strict=True):
        r, a = max(ref, _EPS), max(now, _EPS)
        total += (a - r) * math.log(a / r)
    return total


class DriftMonitor:
    """PSI of a sliding window of values against reference decile bins."""

    def __init__(
        self,
        *,
        bins: int = 10,
        window: int = 500,
        reference_size: int = 2000,
        reference: Sequence[float] | None = None,
    ) -> None:
        self.bins, self.window, self.reference_size = bins, window, reference_size
        self._learning: list[float] = []
        self._edges: np.ndarray | None = None
        self._recent: deque[int] = deque()
        self._counts = np.zeros(bins, np.int64)
        self.reference_shares: list[float] = []
        self.invalid = 0
        if reference is not None:
            self._fix_reference(list(reference))

    @property
    def ready(self) -> bool:
        """True once the reference is known and the window is full."""
        return self._edges is not None and len(self._recent) >= self.window

    def _fix_reference(self, values: list[float]) -> None:
        qs = np.quantile(
            np.asarray(values, np.float64), np.linspace(0, 1, self.bins + 1)
        )
        self._edges = np.unique(qs[1:-1])  # inner edges; ties merge bins
        shares = np.bincount(
            np.searchsorted(self._edges, values, side="right"),
            minlength=len(self._edges) + 1,
        ) / len(values)
        self.reference_shares = [float(s) for s in shares]
        self._counts = np.zeros(len(self._edges) + 1, np.int64)

    def update(self, value: float) -> float | None:
        """Add one value; return the current PSI once ``ready``, else None."""
        if not math.isfinite(value):
            self.invalid += 1
            return None
        if self._edges is None:
            self._learning.append(value)
            if len(self._learning) >= self.reference_size:
                self._fix_reference(self._learning)
                self._learning = []
            return None
        b = int(np.searchsorted(self._edges, value, side="right"))
        self._recent.append(b)
        self._counts[b] += 1
        if len(self._recent) > self.window:
            self._counts[self._recent.popleft()] -= 1
        if len(self._recent) < self.window:
            return None
        live = self._counts / len(self._recent)
        return psi(self.reference_shares, [float(x) for x in live])


def frame_brightness(image: np.ndarray) -> float:
    """The ``input`` statistic: a frame's mean value (a 1/16 sample is plenty)."""
    return float(image[::4, ::4].mean())


def top_score(result: object) -> float:
    """The ``score`` statistic: the best class's or detection's score."""
    if isinstance(result, Classification) and result.top:
        return result.top[0].score
    if isinstance(result, Detections):
        return max((d.score for d in result.items), default=0.0)
    return math.nan


class DriftRule:
    """A ``drift`` alert when a stream's statistic moves away from its reference."""

    def __init__(
        self,
        name: str,
        statistic: str,
        *,
        threshold: float = 0.25,
        monitor: DriftMonitor | None = None,
        severity: Severity = "warning",
    ) -> None:
        self.name, self.statistic, self.severity = name, statistic, severity
        self.threshold = threshold
        self.monitor = monitor or DriftMonitor()
        self.pinned = False  # the config gave the reference: a new model keeps it
        self._raised = False
        self.last_psi: float | None = None

    def rebase(self, reference: Sequence[float] | None) -> None:
        """Start again against ``reference`` (None: learn it from the next values),
        as when the model behind a ``score`` changes."""
        m = self.monitor
        self.monitor = DriftMonitor(
            bins=m.bins,
            window=m.window,
            reference_size=m.reference_size,
            reference=reference,
        )
        self._raised = False
        self.last_psi = None

    def _check(
        self, value: float, stream: str, timestamp: float, source_time: str = ""
    ) -> Alert | None:
        index = self.monitor.update(value)
        if index is None:
            return None
        self.last_psi = index
        if self._raised:
            self._raised = index >= self.threshold / 2  # hysteresis
            return None
        if index < self.threshold:
            return None
        self._raised = True
        return Alert(
            stream=stream,
            rule=self.name,
            severity=self.severity,
            timestamp=timestamp,
            source_time=source_time,
            values={
                "kind": "drift",
                "statistic": self.statistic,
                "psi": round(index, 4),
                "threshold": self.threshold,
                "window": self.monitor.window,
            },
        )

    def on_inference(self, inference: Inference) -> Alert | None:
        """Feed one camera result (its frame's brightness or its top score)."""
        frame = inference.frame
        if self.statistic == "input":
            value = frame_brightness(frame.image)
        else:
            value = top_score(inference.result)
        return self._check(value, frame.stream, frame.timestamp)

    def on_reading(self, reading: Reading) -> Alert | None:
        """Feed one sensor reading (the value of channel ``statistic``)."""
        value = reading.values.get(self.statistic, math.nan)
        return self._check(
            value, reading.stream, reading.timestamp, reading.source_time
        )
