"""Calibration: a scorer's statistic turned into how rarely this channel does that.

A z-score of 5 is rare for a quiet temperature and routine for a bursty request
count, and one sample in a thousand is rare for an hourly reading and routine for
one a second, so one threshold cannot fit every channel in raw units. The
calibrator keeps the last ``history`` statistics of its scorer and estimates ``p``,
the probability of a statistic at least this large among them. Within the bulk
that is the empirical rank; beyond the top ``tail`` fraction, where samples are too
few to rank, it is extrapolated with a generalised Pareto tail fitted to the
excesses by the method of moments (the peaks-over-threshold model of extreme value
theory, as in Siffer et al., "Anomaly detection in streams with extreme value
theory", KDD 2017).

The score is the return period of such a statistic, in days, as ``log10``: with
samples every ``dt`` seconds an event of probability ``p`` per sample comes back
every ``dt / p`` seconds on average. 0 means "about once a day", 1 "once in ten
days", 2 "once in a hundred days", whatever the sampling rate. Each statistic is
scored before it joins the history, so the calibration stays causal.
"""

from __future__ import annotations

import math

from edgeinfer.detectors.base import NOT_READY, Scorer
from edgeinfer.detectors.guard import TypicalInterval
from edgeinfer.detectors.window import SortedWindow

MAX_SURPRISE = 12.0
"""Cap of ``-log10 p`` (one in 10**12): beyond it "never seen" is all that is known."""

SECONDS_PER_DAY = 86_400.0

MIN_EXCESSES = 10
"""Least number of history values above the tail threshold used for the fit."""

MIN_DISTINCT = 5
"""Least number of distinct excesses for a fit (excesses closer than RESOLUTION
times the threshold count as one). A statistic that takes only a few values
(counts, ties) has a tail that says nothing about how fast it falls off; then the
rank alone is used, so a value past every one in the history scores
``log10(n + 1)`` however far past it is."""

RESOLUTION = 1e-3

MAX_SHAPE = 0.5
"""Largest Pareto shape used: heavier tails are fitted as this one."""


def pareto_log10_tail(excess: float, excesses: list[float]) -> float:
    """log10 P(Y > excess) for a generalised Pareto fitted to ``excesses``.

    Method of moments with the shape clipped to [0, MAX_SHAPE]: a negative shape
    would end the tail at a finite point and make anything past it impossible,
    which a few dozen excesses cannot justify.
    """
    count = len(excesses)
    mean = sum(excesses) / count
    var = sum((y - mean) ** 2 for y in excesses) / max(count - 1, 1)
    shape = 0.5 * (1 - mean * mean / var)
    shape = min(max(shape, 0.0), MAX_SHAPE)
    scale = mean * (1 - shape)  # a Pareto's mean excess is scale / (1 - shape)
    if shape < 1e-6:
        return -excess / scale / math.log(10)
    return -math.log10(1 + shape * excess / scale) / shape


def _distinct(values: list[float], resolution: float) -> int:
    """How many different values there are, telling apart only beyond ``resolution``."""
    if resolution <= 0:
        return len(set(values))
    return len({round(v / resolution) for v in values})


class TailCalibrator:
    """Wraps a scorer; its score becomes ``log10`` of the return period in days of
    its statistic among the last ``history`` ones (NaN until ``min_history``)."""

    def __init__(
        self,
        inner: Scorer,
        history: int = 2000,
        tail: float = 0.02,
        min_history: int = 100,
    ):
        if not 0 < tail < 1:
            raise ValueError(f"tail must be between 0 and 1, not {tail}")
        if not MIN_EXCESSES < min_history <= history:
            raise ValueError(
                f"need {MIN_EXCESSES} < min_history <= history, not {min_history}, "
                f"{history}"
            )
        self.inner = inner
        self.name = inner.name
        self.tail, self.min_history = tail, min_history
        self._history = SortedWindow(history)
        self._interval = TypicalInterval()

    @property
    def baseline(self) -> float:
        """The inner scorer's baseline."""
        return self.inner.baseline

    def update(self, timestamp: float, value: float) -> float:
        """log10 of the return period (days) of the inner scorer's statistic."""
        self._interval.update(timestamp)
        raw = self.inner.update(timestamp, value)
        if math.isnan(raw):
            return NOT_READY
        history = self._history
        n = len(history.values)
        score = NOT_READY
        if n >= self.min_history:
            per_day = math.log10(self._interval.value / SECONDS_PER_DAY)
            score = self.surprise(raw, history.values, n) + per_day
        history.push(raw)
        return score

    def surprise(self, raw: float, values: list[float], n: int) -> float:
        """``-log10 p`` of ``raw`` among the sorted ``values`` (``n`` of them)."""
        top = min(int((1 - self.tail) * n), n - MIN_EXCESSES)
        threshold = values[top]
        if raw <= threshold:  # within the bulk: the empirical rank
            return -math.log10((self._history.count_at_least(raw) + 1) / (n + 1))
        excesses = [v - threshold for v in values[top + 1 :]]
        if _distinct(excesses, RESOLUTION * abs(threshold)) < MIN_DISTINCT:
            return -math.log10((self._history.count_at_least(raw) + 1) / (n + 1))
        log_p = math.log10((n - top) / (n + 1)) + pareto_log10_tail(
            raw - threshold, excesses
        )
        return min(-log_p, MAX_SURPRISE)

    def on_gap(self) -> None:
        """Passed on to the inner scorer."""
        self.inner.on_gap()
