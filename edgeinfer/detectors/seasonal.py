"""Seasonal baseline: what this channel usually reads at this time of day (or week).

The cycle (``period_s``, a day by default) is cut into ``bins`` slots by the sample's
own timestamp (UTC, so a daylight-saving change shifts the pattern by one hour).
Each slot learns a mean and a mean absolute deviation online (``SeasonalProfile``).

- ``SeasonalScorer`` scores a sample by its distance from its slot's mean in units
  of that slot's spread: a value normal at noon but not at midnight scores high at
  midnight.
- ``Deseasonalized`` feeds another scorer the sample minus its slot's mean, so a
  daily rush hour is not mistaken for a level shift or a spike.

Memory is set per cycle: each past cycle's weight shrinks by ``1 - alpha``, whatever
the sampling rate, because the per-sample weight is derived from the samples a slot
receives per cycle (learned from the timestamps).
"""

from __future__ import annotations

import math

from edgeinfer.detectors.base import NOT_READY, Scorer
from edgeinfer.detectors.guard import TypicalInterval

MEAN_DEVIATION_TO_SIGMA = 1.2533
"""Mean absolute deviation times this is the standard deviation of normal samples."""

RELATIVE_FLOOR = 1e-9
"""Least spread, relative to the slot mean's magnitude (a slot that never varied)."""


class SeasonalProfile:
    """Per-slot mean and spread over a cycle, learned online from timestamps."""

    def __init__(self, period_s: float = 86_400.0, bins: int = 48, alpha: float = 0.1):
        if period_s <= 0 or bins < 1:
            raise ValueError(f"need period_s > 0 and bins >= 1, not {period_s}, {bins}")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
        self.period_s, self.bins, self.alpha = period_s, bins, alpha
        self._slot_s = period_s / bins
        self.mean = [0.0] * bins
        self.deviation = [0.0] * bins
        self.cycles = [0] * bins  # distinct cycles each slot was seen in
        self._samples = [0] * bins  # samples each slot has learned
        self._last_cycle = [-1] * bins
        self._interval = TypicalInterval()
        self._keep = 1 - alpha  # per-sample weight kept, from the sampling rate
        self._keep_for = math.nan  # the interval _keep was derived for

    def slot(self, timestamp: float) -> int:
        """The slot of the cycle ``timestamp`` (epoch s) falls in."""
        return min(int(timestamp % self.period_s / self._slot_s), self.bins - 1)

    def spread(self, slot: int) -> float:
        """The slot's standard deviation, estimated from its mean deviation."""
        return max(
            self.deviation[slot] * MEAN_DEVIATION_TO_SIGMA,
            RELATIVE_FLOOR * max(1.0, abs(self.mean[slot])),
        )

    def learn(self, timestamp: float, value: float) -> None:
        """Add ``value`` to its slot's mean and spread."""
        self._interval.update(timestamp)
        self._update_keep()
        slot = self.slot(timestamp)
        cycle = int(timestamp // self.period_s)
        if self._last_cycle[slot] != cycle:
            self._last_cycle[slot] = cycle
            self.cycles[slot] += 1
        self._samples[slot] += 1
        count = self._samples[slot]
        # A plain average over the slot's first samples, then exponential forgetting.
        weight = max(1 - self._keep, 1 / count)
        mean = self.mean[slot]
        deviation = abs(value - mean) if count > 1 else 0.0
        self.mean[slot] = mean + weight * (value - mean)
        self.deviation[slot] += weight * (deviation - self.deviation[slot])

    def _update_keep(self) -> None:
        interval = self._interval.value
        if math.isnan(interval) or math.isclose(interval, self._keep_for, rel_tol=0.01):
            return
        # Samples a slot gets per cycle; each keeps (1 - alpha) ** (1 / that).
        per_cycle = max(1.0, self._slot_s / interval)
        self._keep = (1 - self.alpha) ** (1 / per_cycle)
        self._keep_for = interval


class SeasonalScorer:
    """``|x - slot mean| / slot spread``; a slot scores once it has been seen in
    ``min_cycles`` earlier cycles."""

    def __init__(
        self,
        period_s: float = 86_400.0,
        bins: int = 48,
        alpha: float = 0.1,
        min_cycles: int = 2,
        name: str = "seasonal",
    ):
        self.name = name
        self.profile = SeasonalProfile(period_s, bins, alpha)
        self.min_cycles = max(1, min_cycles)
        self.baseline = math.nan

    def update(self, timestamp: float, value: float) -> float:
        """Score ``value`` against its slot, then learn it into the slot."""
        profile = self.profile
        slot = profile.slot(timestamp)
        score = NOT_READY
        self.baseline = math.nan
        if profile.cycles[slot] >= self.min_cycles:
            self.baseline = profile.mean[slot]
            score = abs(value - self.baseline) / profile.spread(slot)
        profile.learn(timestamp, value)
        return score

    def on_gap(self) -> None:
        """Nothing to drop: the slots are indexed by time, not by sample order."""


class Deseasonalized:
    """Feeds ``inner`` each sample minus its slot's mean (once the slot has learned
    a sample; the first sample of each slot is learned, not scored)."""

    def __init__(self, inner: Scorer, profile: SeasonalProfile) -> None:
        self.inner, self.profile = inner, profile
        self.name = inner.name
        self._expected = math.nan

    @property
    def baseline(self) -> float:
        """The inner baseline put back on the channel's scale."""
        return self._expected + self.inner.baseline

    def update(self, timestamp: float, value: float) -> float:
        """The inner scorer's score of the deseasonalized sample."""
        profile = self.profile
        slot = profile.slot(timestamp)
        ready = profile.cycles[slot] > 0
        expected = profile.mean[slot]
        profile.learn(timestamp, value)
        if not ready:
            return NOT_READY
        self._expected = expected
        return self.inner.update(timestamp, value - expected)

    def on_gap(self) -> None:
        """Passed on to the inner scorer."""
        self.inner.on_gap()
