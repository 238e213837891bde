"""The alarm: from a score per sample to a few alerts worth a person's attention.

    warm-up      the first ``warmup`` samples never alarm (the scorer is learning)
    N-of-M       on when ``n`` of the last ``m`` scores reach ``enter``...
    hysteresis   ...and off only when fewer than ``n`` of the last ``m`` reach
                 ``exit`` (lower), so a score wobbling around ``enter`` is one
                 episode, not many
    one alert    an episode raises one alert, when it starts...
    cooldown     ...unless the last alert was under ``cooldown_s`` ago; an episode
                 still on when the cooldown ends raises its alert then
    severity     ``critical`` when the episode's peak score so far reaches
                 ``critical``, else the rule's severity
A NaN score (the scorer has no opinion yet) counts as below both thresholds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from edgeinfer.rules.alert import Severity

_NONE, _STAY, _ENTER = 0, 1, 2  # what one score reached: nothing, exit, enter


@dataclass(frozen=True)
class AlarmPolicy:
    """When scores become alerts; see the module docstring. Units: samples, score
    units, seconds."""

    enter: float
    exit: float | None = None  # default: enter (no hysteresis)
    n: int = 1
    m: int = 1
    warmup: int = 0
    cooldown_s: float = 0.0
    critical: float | None = None
    severity: Severity = "warning"

    def __post_init__(self) -> None:
        if not 1 <= self.n <= self.m:
            raise ValueError(f"need 1 <= n <= m, not n={self.n}, m={self.m}")
        if self.exit is not None and self.exit > self.enter:
            raise ValueError(f"exit ({self.exit}) must not exceed enter ({self.enter})")
        if self.warmup < 0 or self.cooldown_s < 0:
            raise ValueError("warmup and cooldown_s must not be negative")


class Alarm:
    """The alarm state of one detector: feed scores, get a severity when to alert."""

    def __init__(self, policy: AlarmPolicy) -> None:
        self.policy = policy
        self.on = False
        self.peak = math.nan
        self._exit = policy.enter if policy.exit is None else policy.exit
        self._recent: deque[int] = deque()
        self._entering = 0  # scores among the last m that reached enter
        self._staying = 0  # ...that reached exit
        self._seen = 0
        self._raised = False
        self._last_alert = -math.inf

    def update(self, timestamp: float, score: float) -> Severity | None:
        """Feed the score of the sample at ``timestamp``; the alert's severity when
        this sample raises one, else None."""
        policy = self.policy
        self._seen += 1
        if self._seen <= policy.warmup or math.isnan(score):
            level = _NONE
        elif score >= policy.enter:
            level = _ENTER
        else:
            level = _STAY if score >= self._exit else _NONE
        self._count(level)
        if self.on:
            if self._staying < policy.n:
                self.on = self._raised = False
                return None
        elif self._entering >= policy.n:
            self.on, self.peak = True, score
        else:
            return None
        self.peak = max(self.peak, score)
        if self._raised or timestamp - self._last_alert < policy.cooldown_s:
            return None
        self._raised, self._last_alert = True, timestamp
        critical = policy.critical
        return (
            "critical"
            if critical is not None and self.peak >= critical
            else (policy.severity)
        )

    def _count(self, level: int) -> None:
        recent = self._recent
        recent.append(level)
        self._entering += level == _ENTER
        self._staying += level >= _STAY
        if len(recent) > self.policy.m:
            old = recent.popleft()
            self._entering -= old == _ENTER
            self._staying -= old >= _STAY
