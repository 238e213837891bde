"""Several scorers on one channel, joined into one score (any, all, or a vote).

Members should share a scale for the join to mean anything, which calibrated
members do (every score is a return period in log10 days); a raw member is put on
that scale with its ``weight`` (its score is multiplied by it, so a weight equal to
the common threshold makes the member's own 1.0 the threshold).

- ``any``: the largest member score; alarms when any member would.
- ``all``: the smallest; alarms only when every member would.
- ``vote``: the ``votes``-th largest; alarms when at least ``votes`` members would.

The member whose score was taken is the ``leader``: its name and baseline go into
the alert, so an operator sees which view of the data found the anomaly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from edgeinfer.detectors.base import NOT_READY, Scorer

Mode = Literal["any", "all", "vote"]


class CombinedScorer:
    """One score from the members' scores; NaN while too few members are ready."""

    def __init__(
        self,
        members: Sequence[Scorer],
        mode: Mode = "any",
        votes: int = 1,
        weights: Sequence[float] | None = None,
        name: str = "combine",
    ):
        if not members:
            raise ValueError("a combination needs at least one member")
        if mode == "vote" and not 1 <= votes <= len(members):
            raise ValueError(f"votes must be between 1 and {len(members)}, not {votes}")
        weights = list(weights) if weights is not None else [1.0] * len(members)
        if len(weights) != len(members) or any(w <= 0 for w in weights):
            raise ValueError("weights: one positive number per member")
        self.name = name
        self.members = list(members)
        self.mode = mode
        # any: the 1st largest; all: the len-th largest; vote: the votes-th.
        self._rank = {"any": 1, "all": len(members), "vote": votes}[mode]
        self._weights = weights
        self.leader: Scorer = self.members[0]
        self.scores: list[float] = [NOT_READY] * len(members)

    @property
    def baseline(self) -> float:
        """The leading member's baseline."""
        return self.leader.baseline

    def update(self, timestamp: float, value: float) -> float:
        """Every member scores the sample; the join of their scores."""
        scores = self.scores
        for i, member in enumerate(self.members):
            scores[i] = member.update(timestamp, value) * self._weights[i]
        ready = [(s, i) for i, s in enumerate(scores) if not math.isnan(s)]
        if len(ready) < self._rank or (self.mode == "all" and len(ready) < len(scores)):
            return NOT_READY
        if self._rank == 1:
            score, leader = max(ready)
        else:
            ready.sort(reverse=True)
            score, leader = ready[self._rank - 1]
        self.leader = self.members[leader]
        return score

    def on_gap(self) -> None:
        """Passed on to every member."""
        for member in self.members:
            member.on_gap()
