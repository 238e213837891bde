"""The metrics snapshot as Prometheus text (exposition format 0.0.4), served locally.

Only counters and gauges, with ``stream``, ``model`` and ``zone`` labels; a scrape
reads a fresh snapshot, so nothing is cached between scrapes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

_STREAM_COUNTERS = {
    "frames_in": "Frames or readings received from the source.",
    "inferred": "Frames run through a model.",
    "dropped": "Stale frames replaced before a worker took them.",
    "gated": "Frames skipped by motion gating.",
    "errors": "Stage failures (the stream went on).",
    "alerts": "Alerts raised.",
}


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: Any) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._declared: set[str] = set()

    def add(self, name: str, kind: str, doc: str, value: Any, **labels: Any) -> None:
        if value is None:
            return
        metric = f"edgeinfer_{name}"
        if metric not in self._declared:
            self._declared.add(metric)
            self.lines += [f"# HELP {metric} {doc}", f"# TYPE {metric} {kind}"]
        self.lines.append(f"{metric}{_labels(**labels)} {float(value):g}")


def render_prometheus(snapshot: dict[str, Any]) -> str:
    """Prometheus text for one ``MetricsRegistry.collect()`` snapshot."""
    w = _Writer()
    w.add(
        "uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        snapshot.get("uptime_s"),
    )
    for stream, s in snapshot.get("streams", {}).items():
        for key, doc in _STREAM_COUNTERS.items():
            w.add(f"stream_{key}_total", "counter", doc, s.get(key), stream=stream)
        w.add(
            "stream_fps",
            "gauge",
            "Frames or readings per second received.",
            s.get("fps"),
            stream=stream,
        )
        w.add(
            "stream_up",
            "gauge",
            "1 when the stream's health is ok.",
            int(s.get("health") == "ok"),
            stream=stream,
        )
        for q, v in _quantiles(s.get("latency_ms", {})):
            w.add(
                "stream_latency_ms",
                "gauge",
                "End-to-end latency from capture to rules (ms).",
                v,
                stream=stream,
                quantile=q,
            )
    for model, m in snapshot.get("models", {}).items():
        w.add(
            "model_info",
            "gauge",
            "The model in use and where it runs.",
            1,
            model=model,
            version=m.get("version", ""),
            accelerator=m.get("accelerator", ""),
            fallback=int(bool(m.get("fallback"))),
        )
    proc = snapshot.get("process", {})
    w.add(
        "process_cpu_percent",
        "gauge",
        "CPU use in percent of one core.",
        proc.get("cpu_percent"),
    )
    w.add(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory.",
        proc.get("rss_bytes"),
    )
    system = snapshot.get("system", {})
    for zone, celsius in system.get("temperature_c", {}).items():
        w.add(
            "temperature_celsius",
            "gauge",
            "Thermal zone temperature.",
            celsius,
            zone=zone,
        )
    if usage := system.get("disk"):
        w.add(
            "state_disk_free_bytes",
            "gauge",
            "Free bytes where state_dir is.",
            usage.get("free_bytes"),
        )
    if mqtt := snapshot.get("mqtt"):
        w.add(
            "mqtt_connected",
            "gauge",
            "1 while connected to the broker.",
            int(mqtt.get("state") == "connected"),
        )
        outbox = mqtt.get("outbox", {})
        w.add(
            "outbox_pending_messages",
            "gauge",
            "Messages waiting for an ack.",
            outbox.get("pending"),
        )
        w.add("outbox_bytes", "gauge", "Bytes in the outbox.", outbox.get("bytes"))
        w.add(
            "outbox_dropped_alerts_total",
            "counter",
            "Alerts dropped at the outbox hard cap.",
            outbox.get("dropped_alerts"),
        )
    return "\n".join(w.lines) + "\n"


def _quantiles(percentiles: dict[str, float]) -> Iterator[tuple[str, float]]:
    for key, q in (("p50", "0.5"), ("p95", "0.95"), ("p99", "0.99")):
        if key in percentiles:
            yield q, percentiles[key]


class PrometheusServer:
    """``GET /metrics`` on ``host:port`` from ``collect``, on a thread of its own."""

    def __init__(
        self, collect: Callable[[], dict[str, Any]], host: str, port: int
    ) -> None:
        # Only a device that serves metrics pays for the HTTP server's imports.
        from http.server import (  # noqa: PLC0415
            BaseHTTPRequestHandler,
            ThreadingHTTPServer,
        )

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics is served")
                    return
                body = render_prometheus(collect()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("metrics: " + format, *args)  # noqa: G003

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def port(self) -> int:
        """The port listened on (useful with port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start serving."""
        self._thread.start()
        log.info("metrics: serving Prometheus text on port %d /metrics", self.port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
