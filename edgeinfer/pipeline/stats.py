"""Per-stream counters and latency percentiles over a sliding window."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

WINDOW = 1024
_QS = np.array((0.50, 0.95, 0.99))


def _linear_percentiles(values: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """``np.percentile``'s default (linear) method, for finite values.

    NumPy's own pulls in ``numpy.ma`` on its first call (about 1 MB resident for the
    daemon's lifetime) to handle NaN, which latencies never are.
    """
    ordered = np.sort(values)
    pos = qs * (ordered.size - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, ordered.size - 1)
    result: np.ndarray = ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
    return result


class LatencyWindow:
    """The last ``size`` latencies (ms) of one stage; percentiles on demand."""

    def __init__(self, size: int = WINDOW) -> None:
        self._buf = np.zeros(size, np.float64)
        self._n = 0

    def add(self, ms: float) -> None:
        """Record one latency in milliseconds."""
        self._buf[self._n % self._buf.size] = ms
        self._n += 1

    def percentiles(self) -> dict[str, float]:
        """``{"p50", "p95", "p99"}`` over the window (zeros when empty)."""
        n = min(self._n, self._buf.size)
        if n == 0:
            return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
        p50, p95, p99 = _linear_percentiles(self._buf[:n], _QS)
        return {
            "p50": round(float(p50), 3),
            "p95": round(float(p95), 3),
            "p99": round(float(p99), 3),
        }


STAGES = ("preprocess", "infer", "postprocess", "rules", "end_to_end", "overhead")


@dataclass
class StreamStats:
    """What happened to one stream's data: counts and per-stage latency (ms).

    ``frames_in`` counts frames or readings received from the source, ``inferred``
    those run through a model, ``dropped`` stale frames replaced before a worker took
    them, ``gated`` frames skipped by motion gating (their last result reused),
    ``errors`` failures of a stage (counted, the stream goes on).

    ``end_to_end`` runs from a frame decoded to its rules done; ``overhead`` is the
    part of it outside the backend's invoke (hand-overs, waiting for a worker,
    preprocessing, decoding the outputs, rules), frame by frame.
    """

    frames_in: int = 0
    inferred: int = 0
    dropped: int = 0
    gated: int = 0
    errors: int = 0
    alerts: int = 0
    latency: dict[str, LatencyWindow] = field(
        default_factory=lambda: {s: LatencyWindow() for s in STAGES}
    )
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Counters and ``latency_ms`` percentiles per stage."""
        with self.lock:
            return {
                "frames_in": self.frames_in,
                "inferred": self.inferred,
                "dropped": self.dropped,
                "gated": self.gated,
                "errors": self.errors,
                "alerts": self.alerts,
                "latency_ms": {k: w.percentiles() for k, w in self.latency.items()},
            }
