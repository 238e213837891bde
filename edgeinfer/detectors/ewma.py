"""EWMA control chart: a smoothed value against a slowly learned mean and spread.

The classic chart (Roberts 1959): the statistic ``z = lam * x + (1 - lam) * z`` is
compared with the process mean, in units of its own standard deviation
``sigma * sqrt(lam / (2 - lam))``. Small ``lam`` averages many samples and finds
small sustained shifts; ``lam = 1`` scores each sample alone (a Shewhart chart).
The process mean and variance are learned online with weight ``alpha``, so the
chart follows slow drift but not a sudden change. Until ``1 / alpha`` samples have
been seen they are plain running averages (weight ``1 / count``), so a chart with a
long memory is still usable after ``MIN_SAMPLES``.
"""

from __future__ import annotations

import math

from edgeinfer.detectors.base import NOT_READY

MIN_SAMPLES = 30
"""Samples learned before the chart scores."""

RELATIVE_FLOOR = 1e-9
"""Least standard deviation, relative to the mean's magnitude (a flat start)."""


class EwmaScorer:
    """``|ewma_lam(x) - mean| / (sd * sqrt(lam / (2 - lam)))``, mean and sd learned
    with weight ``alpha``; ready after ``MIN_SAMPLES`` samples."""

    def __init__(self, alpha: float = 0.01, lam: float = 1.0, name: str = "ewma"):
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
        if not 0 < lam <= 1:
            raise ValueError(f"lam must be in (0, 1], not {lam}")
        self.name = name
        self.alpha, self.lam = alpha, lam
        self.baseline = math.nan
        self._factor = math.sqrt(lam / (2 - lam))
        self._count = 0
        self._smooth = self._mean = self._var = 0.0

    def update(self, timestamp: float, value: float) -> float:
        """Score the smoothed value including ``value``, then learn ``value``."""
        self._count += 1
        if self._count == 1:
            self._smooth = self._mean = value
            self.baseline = value
            return NOT_READY
        self._smooth += self.lam * (value - self._smooth)
        mean = self._mean
        self.baseline = mean
        score = NOT_READY
        if self._count > MIN_SAMPLES:
            sd = max(math.sqrt(self._var), RELATIVE_FLOOR * max(1.0, abs(mean)))
            score = abs(self._smooth - mean) / (sd * self._factor)
        # Running average over the first 1 / alpha samples, then exponential.
        weight = max(self.alpha, 1 / self._count)
        residual = value - mean
        self._mean = mean + weight * residual
        self._var = (1 - weight) * (self._var + weight * residual * residual)
        return score

    def on_gap(self) -> None:
        """Restart the smoothing at the next sample; keep the learned mean."""
        self._smooth = self._mean
