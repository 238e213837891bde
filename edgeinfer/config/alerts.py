"""The ``alerts`` section: the local alert log's bounds and local actions on alerts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgeinfer.config._base import ConfigModel

Severity = Literal["info", "warning", "critical"]


class SerialActionConfig(ConfigModel):
    """Write a line to a serial port for each alert (a buzzer, a PLC input)."""

    kind: Literal["serial"] = Field(
        default="serial", description="Action: a line to a serial port."
    )
    port: str = Field(description="Device (/dev/ttyUSB0) or a pyserial URL.")
    baud: int = Field(default=9600, gt=0, description="Baud rate, in bit/s.")
    line: str = Field(
        default="ALERT {severity} {stream} {rule}",
        description="The line, with {severity}, {stream}, {rule}, {timestamp}, {id} "
        "and the alert's values (e.g. {score}) filled in.",
    )
    min_severity: Severity = Field(
        default="warning", description="Least severity that triggers the action."
    )


class AlertsConfig(ConfigModel):
    """Where alerts are kept on the device and what they set off locally."""

    max_mb: float = Field(
        default=64.0,
        gt=0,
        description="Bound of the alert log on disk; past it the oldest snapshots, "
        "then the oldest alerts, are dropped.",
    )
    max_rows: int = Field(
        default=100_000, ge=100, description="Most alerts kept in the log."
    )
    actions: list[SerialActionConfig] = Field(
        default_factory=list, description="Local actions run for each alert."
    )
