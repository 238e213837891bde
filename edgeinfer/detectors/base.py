"""The ``Scorer`` protocol: what every detector's statistic looks like from outside.

A scorer sees one clean sample at a time (finite value, strictly increasing
timestamp; the guard has already dropped the rest) and answers how unusual it is
compared with what came *before* it: the sample is scored first and learned from
after, so an output never depends on a later sample. While it is still learning
it answers ``NOT_READY`` (NaN), which the alarm treats as "no opinion".
"""

from __future__ import annotations

import math
from typing import Protocol

NOT_READY = math.nan
"""The score of a sample seen while the scorer is still learning."""


class Scorer(Protocol):
    """One statistic per sample: larger means more unusual; NaN while learning.

    ``baseline`` is what the last sample was compared with (a median, a mean, the
    expected value at that time of day...), in the channel's unit, for the alert.
    A learned model scoring windows of samples (an int8 network on the device's
    accelerator, ``learned.ForecastScorer``) fits the same protocol.
    """

    name: str

    @property
    def baseline(self) -> float:
        """What the last sample was compared with (channel units; NaN: nothing)."""
        ...

    def update(self, timestamp: float, value: float) -> float:
        """Score ``value`` at ``timestamp`` (epoch s), then learn from it."""
        ...

    def on_gap(self) -> None:
        """The stream had a gap before this sample: drop short-term state."""
        ...
