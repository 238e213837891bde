"""Sensor rules: conditions on a channel's readings."""

from __future__ import annotations

import math

from edgeinfer.rules.alert import Alert, Severity
from edgeinfer.rules.trigger import Trigger
from edgeinfer.sources.base import Reading


class ThresholdRule:
    """``channel`` above ``above`` or below ``below`` for ``samples`` samples."""

    def __init__(
        self,
        name: str,
        channel: str,
        *,
        above: float | None = None,
        below: float | None = None,
        samples: int = 1,
        severity: Severity = "warning",
        cooldown_s: float = 0.0,
    ) -> None:
        self.name, self.channel, self.severity = name, channel, severity
        self.above = math.inf if above is None else above
        self.below = -math.inf if below is None else below
        self._trigger = Trigger(samples, cooldown_s)

    def on_reading(self, reading: Reading) -> Alert | None:
        """Feed one reading; return an alert when the rule fires. A missing or NaN
        value counts as no hit (it neither raises nor extends a run)."""
        value = reading.values.get(self.channel, math.nan)
        hit = value > self.above or value < self.below  # NaN compares False
        if not self._trigger.update(hit, reading.timestamp):
            return None
        bound = "above" if value > self.above else "below"
        return Alert(
            stream=reading.stream,
            rule=self.name,
            severity=self.severity,
            timestamp=reading.timestamp,
            source_time=reading.source_time,
            values={
                "channel": self.channel,
                "value": value,
                bound: self.above if bound == "above" else self.below,
            },
        )
