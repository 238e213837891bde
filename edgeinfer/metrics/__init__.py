"""Metrics: one registry of the daemon's numbers, read by MQTT telemetry and by the
optional local Prometheus endpoint alike.

    registry = MetricsRegistry(daemon.status, state_dir)
    registry.collect()          # {"streams": {...}, "process": {...}, "system": {...}}
    render_prometheus(registry.collect())
"""

from __future__ import annotations

from edgeinfer.metrics.prometheus import PrometheusServer, render_prometheus
from edgeinfer.metrics.registry import MetricsRegistry

__all__ = ["MetricsRegistry", "PrometheusServer", "render_prometheus"]
