"""The metrics registry: one snapshot of every number the daemon reports.

It reads the daemon's status (streams, models, MQTT), adds rates and what the
operating system tells, and returns plain JSON data. MQTT telemetry publishes the
snapshot as it is; the Prometheus endpoint renders the same snapshot as text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeinfer import __version__
from edgeinfer.metrics.system import ProcessMeter, disk, load_average, temperatures
from edgeinfer.rules.alert import iso_time

_MIN_RATE_WINDOW_S = 0.5


class _Rate:
    """Events per second of a growing counter, over the time between readings."""

    def __init__(self) -> None:
        self._last: tuple[float, int] | None = None
        self.value = 0.0

    def update(self, now: float, count: int) -> float:
        if self._last is None or count < self._last[1]:  # first reading, or a reset
            self._last = (now, count)
            return self.value
        dt = now - self._last[0]
        if dt >= _MIN_RATE_WINDOW_S:
            self.value = round((count - self._last[1]) / dt, 2)
            self._last = (now, count)
        return self.value


class MetricsRegistry:
    """Collects telemetry from ``status`` (the daemon's) and the system."""

    def __init__(self, status: Callable[[], dict[str, Any]], state_dir: Path) -> None:
        self._status = status
        self.state_dir = state_dir
        self.process = ProcessMeter()
        self._rates: dict[tuple[str, str], _Rate] = {}
        self._lock = threading.Lock()

    def collect(self) -> dict[str, Any]:
        """One snapshot: device, streams, models, process, system and MQTT."""
        status = self._status()
        now = time.monotonic()
        snapshot: dict[str, Any] = {
            "device": status.get("device"),
            "timestamp": iso_time(time.time()),
            "version": __version__,
            "uptime_s": status.get("uptime_s"),
            "streams": {
                name: self._stream(name, s, now)
                for name, s in status.get("streams", {}).items()
            },
            "models": {
                name: {
                    "version": m.get("version", ""),
                    "accelerator": m.get("placement"),
                    "fallback": m.get("fallback", []),
                }
                for name, m in status.get("models", {}).items()
            },
            "process": self.process.sample(),
            "system": self._system(),
        }
        if "mqtt" in status:
            snapshot["mqtt"] = status["mqtt"]
        return snapshot

    def _stream(self, name: str, s: dict[str, Any], now: float) -> dict[str, Any]:
        latency = s.get("latency_ms", {})
        with self._lock:
            fps = self._rate(name, "in").update(now, s.get("frames_in", 0))
            inferred_fps = self._rate(name, "inferred").update(
                now, s.get("inferred", 0)
            )
        return {
            "health": s.get("health"),
            "reason": s.get("reason", ""),
            "fps": fps,
            "inferred_fps": inferred_fps,
            **{
                key: s.get(key, 0)
                for key in (
                    "frames_in",
                    "inferred",
                    "dropped",
                    "gated",
                    "errors",
                    "alerts",
                )
            },
            "latency_ms": latency.get("end_to_end", {}),
            "infer_ms": latency.get("infer", {}),
        }

    def _rate(self, stream: str, what: str) -> _Rate:
        return self._rates.setdefault((stream, what), _Rate())

    def _system(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if temps := temperatures():
            out["temperature_c"] = temps
        if (usage := disk(self.state_dir)) is not None:
            out["disk"] = usage
        if (load := load_average()) is not None:
            out["load_1m"] = load
        return out
