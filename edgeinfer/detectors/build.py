"""Detectors from a ``kind: detector`` rule's config: one table from kind to class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeinfer.config.detectors import (
    CombineConfig,
    EwmaConfig,
    FlatConfig,
    ModelScorerConfig,
    RangeConfig,
    RateConfig,
    RobustZConfig,
    SeasonalConfig,
)
from edgeinfer.config.rules import DetectorRuleConfig
from edgeinfer.detectors.alarm import AlarmPolicy
from edgeinfer.detectors.base import Scorer
from edgeinfer.detectors.calibrate import TailCalibrator
from edgeinfer.detectors.combine import CombinedScorer
from edgeinfer.detectors.detector import Detector
from edgeinfer.detectors.ewma import EwmaScorer
from edgeinfer.detectors.flat import FlatScorer
from edgeinfer.detectors.learned import ForecastScorer
from edgeinfer.detectors.range import RangeScorer
from edgeinfer.detectors.rate import RateScorer
from edgeinfer.detectors.robust import RobustZScorer
from edgeinfer.detectors.seasonal import (
    Deseasonalized,
    SeasonalProfile,
    SeasonalScorer,
)

# kind -> the scorer built from that kind's config (a learned scorer joins here).
_SCORERS: dict[str, Callable[[Any, str], Scorer]] = {
    "robust_z": lambda c, name: RobustZScorer(c.window, c.recent, name=name),
    "ewma": lambda c, name: EwmaScorer(c.alpha, c.lam, name=name),
    "rate": lambda c, name: RateScorer(c.window, name=name),
    "seasonal": lambda c, name: SeasonalScorer(
        c.period_s, c.bins, c.alpha, c.min_cycles, name=name
    ),
    "range": lambda c, name: RangeScorer(c.window, c.margin, name=name),
    "flat": lambda c, name: FlatScorer(c.tolerance, name=name),
    "model": lambda c, name: ForecastScorer(c.path, name=name, backend=c.backend),
}

MemberConfig = (
    RobustZConfig
    | EwmaConfig
    | RateConfig
    | SeasonalConfig
    | RangeConfig
    | FlatConfig
    | ModelScorerConfig
)


def build_scorer(config: MemberConfig | CombineConfig) -> Scorer:
    """The scorer a detector config describes: deseasonalized and calibrated if
    it asks to be."""
    if isinstance(config, CombineConfig):
        return CombinedScorer(
            [build_scorer(member) for member in config.members],
            mode=config.mode,
            votes=config.votes,
            weights=[member.weight for member in config.members],
        )
    scorer = _SCORERS[config.kind](config, config.name or config.kind)
    deseason = getattr(config, "deseason", None)
    if deseason is not None:
        profile = SeasonalProfile(deseason.period_s, deseason.bins, deseason.alpha)
        scorer = Deseasonalized(scorer, profile)
    calibration = config.calibration
    if calibration is None:
        return scorer
    return TailCalibrator(
        scorer, calibration.history, calibration.tail, calibration.min_history
    )


def build_detector(rule: DetectorRuleConfig) -> Detector:
    """A fresh detector (own state) for one stream's channel."""
    alarm = rule.alarm
    policy = AlarmPolicy(
        enter=alarm.enter,
        exit=alarm.exit,
        n=alarm.n,
        m=alarm.m,
        warmup=alarm.warmup,
        cooldown_s=rule.cooldown_s,
        critical=alarm.critical,
        severity=rule.severity,
    )
    return Detector(build_scorer(rule.scorer), policy, rule.gap_factor)
