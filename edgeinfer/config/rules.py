"""The ``rules`` section: conditions on results and readings that raise alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from edgeinfer.config._base import ConfigModel, invalid
from edgeinfer.config.detectors import AlarmConfig, DetectorConfig

Severity = Literal["info", "warning", "critical"]


class _RuleBase(ConfigModel):
    name: str = Field(description="Rule name, reported in every alert it raises.")
    streams: list[str] = Field(
        default_factory=list,
        description="Streams the rule watches; empty: every stream of its type.",
    )
    severity: Severity = Field(default="warning", description="Severity of its alerts.")
    cooldown_s: float = Field(
        default=0.0, ge=0, description="Least time between two alerts, in seconds."
    )


class LabelRuleConfig(_RuleBase):
    """A label seen with a score at or above ``min_score`` for ``frames`` frames."""

    kind: Literal["label"] = Field(description="Vision rule on a model's label.")
    label: str = Field(description="The label, as in the model's labels file.")
    min_score: float = Field(default=0.5, ge=0, le=1, description="Least score.")
    frames: int = Field(
        default=1, ge=1, description="Consecutive frames the label must be seen."
    )


class ThresholdRuleConfig(_RuleBase):
    """A sensor channel above or below a bound for ``samples`` consecutive samples."""

    kind: Literal["threshold"] = Field(description="Sensor rule on one channel.")
    channel: str = Field(description="Channel name, as configured on the stream.")
    above: float | None = Field(default=None, description="Alert when value > above.")
    below: float | None = Field(default=None, description="Alert when value < below.")
    samples: int = Field(
        default=1, ge=1, description="Consecutive samples beyond the bound."
    )

    @model_validator(mode="after")
    def _needs_a_bound(self) -> ThresholdRuleConfig:
        if self.above is None and self.below is None:
            raise invalid("no bound given", "set above, below, or both")
        return self


class DetectorRuleConfig(_RuleBase):
    """A streaming anomaly detector on one sensor channel (see ``detectors``)."""

    kind: Literal["detector"] = Field(
        default="detector", description="Anomaly detector on one channel."
    )
    channel: str = Field(description="Channel name, as configured on the stream.")
    scorer: DetectorConfig = Field(
        description="The statistic: robust_z, ewma, rate, seasonal, range or combine."
    )
    alarm: AlarmConfig = Field(
        description="Thresholds on the score, warm-up, hysteresis and N-of-M."
    )
    gap_factor: float = Field(
        default=10.0,
        gt=1,
        description="An interval over this many typical intervals is a gap.",
    )


RuleConfig = Annotated[
    LabelRuleConfig | ThresholdRuleConfig | DetectorRuleConfig,
    Field(discriminator="kind"),
]
