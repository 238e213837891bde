"""What ``edgeinfer devices`` reports for each backend and device."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceReport:
    """One backend/device pair: usable or not, what it is, why not, and the fix."""

    backend: str
    device: str
    found: bool
    detail: str = ""
    reason: str = ""
    fix: str = ""
