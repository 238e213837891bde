"""Seasonal baseline: what this channel usually reads at this time of day (or week).

The cycle (``period_s``, a day by default) is cut into ``bins`` slots by the sample's
own timestamp (UTC, so a daylight-saving change shifts the pattern by one hour).
Each slot learns a mean and a mean absolute deviation online, and a sample is scored
by its distance from its slot's mean in units of that slot's spread: a value that
is normal at noon but not at midnight scores high at midnight.

Memory is set per cycle: each past cycle's weight shrinks by ``1 - alpha``, whatever
the sampling rate, because the per-sample weight is derived from the samples a slot
receives per cycle (learned from the timestamps). A slot scores nothing until it
has been seen in ``min_cycles`` cycles.
"""

from __future__ import annotations

import math

from edgeinfer.detectors.base import NOT_READY

MEAN_DEVIATION_TO_SIGMA = 1.2533
"""Mean absolute deviation times this is the standard deviation of normal samples."""

RELATIVE_FLOOR = 1e-9
"""Least spread, relative to the slot mean's magnitude (a slot that never varied)."""


class SeasonalScorer:
    """``|x - slot_mean| / slot_spread`` for the slot of the cycle ``x`` falls in."""

    def __init__(
        self,
        period_s: float = 86_400.0,
        bins: int = 48,
        alpha: float = 0.1,
        min_cycles: int = 2,
        name: str = "seasonal",
    ):
        if period_s <= 0 or bins < 1:
            raise ValueError(f"need period_s > 0 and bins >= 1, not {period_s}, {bins}")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
        self.name = name
        self.period_s, self.bins, self.alpha = period_s, bins, alpha
        self.min_cycles = max(1, min_cycles)
        self.baseline = math.nan
        self._slot_s = period_s / bins
        self._mean = [0.0] * bins
        self._dev = [0.0] * bins
        self._samples = [0] * bins  # samples ever learned by the slot
        self._cycles = [0] * bins  # distinct cycles the slot was seen in
        self._last_cycle = [-1] * bins
        self._interval = math.nan  # typical spacing of samples (s)
        self._last_time = math.nan
        self._keep = 1 - alpha  # per-sample weight kept, from the sampling rate
        self._keep_interval = math.nan

    def update(self, timestamp: float, value: float) -> float:
        """Score ``value`` against its slot, then learn it into the slot."""
        self._learn_interval(timestamp)
        cycle, phase = divmod(timestamp, self.period_s)
        slot = min(int(phase / self._slot_s), self.bins - 1)
        mean = self._mean[slot]
        score = NOT_READY
        if self._cycles[slot] >= self.min_cycles:
            spread = max(
                self._dev[slot] * MEAN_DEVIATION_TO_SIGMA,
                RELATIVE_FLOOR * max(1.0, abs(mean)),
            )
            score = abs(value - mean) / spread
            self.baseline = mean
        else:
            self.baseline = math.nan
        if self._last_cycle[slot] != cycle:
            self._last_cycle[slot] = int(cycle)
            self._cycles[slot] += 1
        self._samples[slot] += 1
        # Plain average over the slot's first samples, then exponential forgetting.
        weight = max(1 - self._keep, 1 / self._samples[slot])
        deviation = abs(value - mean) if self._samples[slot] > 1 else 0.0
        self._mean[slot] = mean + weight * (value - mean)
        self._dev[slot] += weight * (deviation - self._dev[slot])
        return score

    def _learn_interval(self, timestamp: float) -> None:
        elapsed = timestamp - self._last_time
        self._last_time = timestamp
        if not elapsed > 0:  # first sample (NaN)
            return
        interval = self._interval
        if math.isnan(interval):
            self._interval = elapsed
        elif elapsed < 10 * interval:  # gaps say nothing about the sampling rate
            self._interval = interval + 0.05 * (elapsed - interval)
        # Samples a slot gets per cycle; each keeps (1 - alpha) ** (1 / that).
        if not math.isclose(self._interval, self._keep_interval, rel_tol=0.01):
            per_cycle = max(1.0, self._slot_s / self._interval)
            self._keep = (1 - self.alpha) ** (1 / per_cycle)
            self._keep_interval = self._interval

    def on_gap(self) -> None:
        """Nothing to drop: the slots are indexed by time, not by sample order."""
