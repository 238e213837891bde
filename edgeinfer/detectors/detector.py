"""A detector: guard, scorer and alarm on one channel, one sample at a time.

    detector = Detector(RobustZScorer(288), AlarmPolicy(enter=5, exit=3))
    for t, x in samples:
        if (found := detector.update(t, x)) is not None:
            print(found.severity, found.score, found.value, found.baseline)

The rules engine wraps one per channel and stream in a ``DetectorRule``.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeinfer.detectors.alarm import Alarm, AlarmPolicy
from edgeinfer.detectors.base import Scorer
from edgeinfer.detectors.combine import CombinedScorer
from edgeinfer.detectors.guard import InputCounts, SampleGuard
from edgeinfer.rules.alert import Severity


@dataclass(frozen=True)
class Detection:
    """An anomaly found at ``timestamp`` (epoch s): the sample's ``value``, its
    ``score`` (score units of the detector), the ``baseline`` it was compared with
    (channel units) and the ``detector`` that scored it (for a combination, the
    member that led)."""

    timestamp: float
    value: float
    score: float
    baseline: float
    severity: Severity
    detector: str


class Detector:
    """Scores every good sample and raises a ``Detection`` when the alarm says so.

    ``score`` holds the last sample's score (NaN while learning or when dropped),
    ``counts`` the dropped samples and gaps by reason.
    """

    def __init__(
        self, scorer: Scorer, policy: AlarmPolicy, gap_factor: float = 10.0
    ) -> None:
        self.scorer = scorer
        self.alarm = Alarm(policy)
        self.guard = SampleGuard(gap_factor)
        self.score = float("nan")

    @property
    def counts(self) -> InputCounts:
        """Dropped samples and gaps, by reason."""
        return self.guard.counts

    def update(self, timestamp: float, value: float | None) -> Detection | None:
        """Feed one sample (``None`` when the channel was missing)."""
        verdict = self.guard.check(timestamp, value)
        if verdict is None or value is None:
            self.score = float("nan")
            return None
        scorer = self.scorer
        if verdict == "gap":
            scorer.on_gap()
        score = self.score = scorer.update(timestamp, value)
        severity = self.alarm.update(timestamp, score)
        if severity is None:
            return None
        leader = scorer.leader if isinstance(scorer, CombinedScorer) else scorer
        return Detection(
            timestamp=timestamp,
            value=value,
            score=score,
            baseline=leader.baseline,
            severity=severity,
            detector=leader.name,
        )
