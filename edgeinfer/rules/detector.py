"""The detector rule: a streaming anomaly detector on one channel of a sensor."""

from __future__ import annotations

import math

from edgeinfer.detectors.detector import Detector
from edgeinfer.detectors.guard import InputCounts
from edgeinfer.rules.alert import Alert
from edgeinfer.sources.base import Reading


class DetectorRule:
    """Feeds ``channel`` of each reading to ``detector``; its detections are alerts
    carrying the detector, score, value and baseline that raised them."""

    def __init__(self, name: str, channel: str, detector: Detector) -> None:
        self.name, self.channel, self.detector = name, channel, detector

    @property
    def counts(self) -> InputCounts:
        """Readings the detector dropped (and gaps it saw), by reason."""
        return self.detector.counts

    def on_reading(self, reading: Reading) -> Alert | None:
        """Feed one reading; return an alert when the detector raises one."""
        found = self.detector.update(
            reading.timestamp, reading.values.get(self.channel)
        )
        if found is None:
            return None
        return Alert(
            stream=reading.stream,
            rule=self.name,
            severity=found.severity,
            timestamp=reading.timestamp,
            source_time=reading.source_time,
            values={
                "channel": self.channel,
                "detector": found.detector,
                "score": round(found.score, 3),
                "value": found.value,
                "baseline": None if math.isnan(found.baseline) else found.baseline,
            },
        )
