"""Building each stream's rules from the config, checked against the loaded models."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from edgeinfer.config.rules import (
    AbsentRuleConfig,
    CountRuleConfig,
    DetectorRuleConfig,
    DriftRuleConfig,
    LabelRuleConfig,
    RuleConfig,
    ThresholdRuleConfig,
    VisionRuleConfig,
)
from edgeinfer.detectors.build import build_detector
from edgeinfer.errors import ConfigError
from edgeinfer.pipeline.events import Inference
from edgeinfer.rules.alert import Alert
from edgeinfer.rules.detector import DetectorRule
from edgeinfer.rules.drift import DriftMonitor, DriftRule
from edgeinfer.rules.sensor import ThresholdRule
from edgeinfer.rules.vision import (
    AbsentRule,
    CountRule,
    LabelRule,
    ScoreRule,
    VisionRule,
)
from edgeinfer.sources.base import Reading


class SensorRule(Protocol):
    """A rule fed every reading of a sensor stream."""

    name: str

    def on_reading(self, reading: Reading) -> Alert | None: ...


@dataclass
class StreamRules:
    """The rule instances of one stream (each keeps its own state)."""

    vision: list[VisionRule | DriftRule] = field(default_factory=list)
    sensor: list[SensorRule] = field(default_factory=list)

    def add_drift(self, rule: DriftRule, camera: bool) -> None:
        """A drift rule watches results on a camera stream, readings on a sensor."""
        (self.vision if camera else self.sensor).append(rule)

    def on_inference(self, inference: Inference) -> list[Alert]:
        """Alerts the vision rules raise on one result."""
        return [a for r in self.vision if (a := r.on_inference(inference)) is not None]

    def on_reading(self, reading: Reading) -> list[Alert]:
        """Alerts the sensor rules raise on one reading."""
        return [a for r in self.sensor if (a := r.on_reading(reading)) is not None]


def _vision_rule(rule: VisionRuleConfig) -> VisionRule:
    """A fresh rule instance for one stream."""
    points: list[tuple[float, float]] | None = getattr(rule, "zone", None)
    zone = [(float(x), float(y)) for x, y in points] if points else None
    if isinstance(rule, LabelRuleConfig):
        return LabelRule(
            rule.name,
            rule.label,
            min_score=rule.min_score,
            frames=rule.frames,
            zone=zone,
            cooldown_s=rule.cooldown_s,
            severity=rule.severity,
        )
    if isinstance(rule, CountRuleConfig):
        return CountRule(
            rule.name,
            rule.label,
            above=rule.above,
            below=rule.below,
            min_score=rule.min_score,
            frames=rule.frames,
            zone=zone,
            cooldown_s=rule.cooldown_s,
            severity=rule.severity,
        )
    if isinstance(rule, AbsentRuleConfig):
        return AbsentRule(
            rule.name,
            rule.label,
            seconds=rule.seconds,
            min_score=rule.min_score,
            zone=zone,
            severity=rule.severity,
        )
    return ScoreRule(
        rule.name,
        min_score=rule.min_score,
        output=rule.output,
        label=rule.label,
        frames=rule.frames,
        cooldown_s=rule.cooldown_s,
        severity=rule.severity,
    )


def _applies(rule: RuleConfig, stream: str) -> bool:
    return not rule.streams or stream in rule.streams


def build_rules(
    rules: list[RuleConfig],
    camera_labels: dict[str, set[str] | None],
    sensor_streams: list[str],
    drift_samples: Mapping[str, Callable[[str], list[float] | None]] | None = None,
) -> dict[str, StreamRules]:
    """Fresh rule instances per stream.

    ``camera_labels`` maps each camera stream to its model's labels (None when the
    model has no labels file); a label rule naming a label the model does not have is
    a ``ConfigError``, as is a rule naming a stream that does not exist.
    ``drift_samples`` gives a camera stream's reference sample of a drift statistic
    from its model's bundle, for drift rules that name none.
    """
    samples = drift_samples or {}
    out = {name: StreamRules() for name in [*camera_labels, *sensor_streams]}
    for i, rule in enumerate(rules):
        unknown = [s for s in rule.streams if s not in out]
        if unknown:
            raise ConfigError(
                f"rules.{i} ({rule.name}): unknown stream {unknown[0]!r} — "
                f"use one of: {', '.join(out) or 'no streams configured'}"
            )
        if isinstance(rule, VisionRuleConfig):
            for stream, labels in camera_labels.items():
                if _applies(rule, stream):
                    _check_label(i, rule, stream, labels)
                    out[stream].vision.append(_vision_rule(rule))
        elif isinstance(rule, DriftRuleConfig):
            for stream, stream_rules in out.items():
                if _applies(rule, stream):
                    sample = samples.get(stream)
                    given = None if sample is None else sample(rule.statistic)
                    stream_rules.add_drift(
                        _drift_rule(rule, given), stream in camera_labels
                    )
        else:
            for stream in sensor_streams:
                if _applies(rule, stream):
                    out[stream].sensor.append(_sensor_rule(rule))
    return out


def _check_label(
    i: int, rule: VisionRuleConfig, stream: str, labels: set[str] | None
) -> None:
    """A vision rule naming a label the stream's model does not have is an error."""
    label = getattr(rule, "label", None)
    if label is not None and labels is not None and label not in labels:
        some = ", ".join(sorted(labels)[:8])
        raise ConfigError(
            f"rules.{i} ({rule.name}): label {label!r} is not a "
            f"label of stream {stream}'s model — use one of its labels "
            f"({some}, ...)"
        )


def _sensor_rule(rule: ThresholdRuleConfig | DetectorRuleConfig) -> SensorRule:
    """A fresh sensor rule instance for one stream."""
    if isinstance(rule, ThresholdRuleConfig):
        return ThresholdRule(
            rule.name,
            rule.channel,
            above=rule.above,
            below=rule.below,
            samples=rule.samples,
            severity=rule.severity,
            cooldown_s=rule.cooldown_s,
        )
    return DetectorRule(rule.name, rule.channel, build_detector(rule))


def _drift_rule(rule: DriftRuleConfig, sample: list[float] | None) -> DriftRule:
    monitor = DriftMonitor(
        bins=rule.bins,
        window=rule.window,
        reference_size=rule.reference_size,
        reference=rule.reference or sample,
    )
    drift = DriftRule(
        rule.name,
        rule.statistic,
        threshold=rule.threshold,
        monitor=monitor,
        severity=rule.severity,
    )
    drift.pinned = rule.reference is not None
    return drift
