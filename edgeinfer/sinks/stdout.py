"""Results and alerts on stdout: JSON lines, or one short line each for people."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

from edgeinfer.pipeline.events import Inference
from edgeinfer.rules.alert import Alert


def describe(inference: Inference) -> str:
    """A one-line summary of a result (top class, or labels and counts)."""
    data = inference.result.to_json()
    if data.get("top"):
        top = data["top"][0]
        return f"{top['label']} {top['score']:.2f}"
    if "detections" in data:
        counts: dict[str, int] = {}
        for d in data["detections"]:
            counts[d["label"]] = counts.get(d["label"], 0) + 1
        return ", ".join(f"{n} {label}" for label, n in counts.items()) or "nothing"
    return inference.result.task


class StdoutSink:
    """Writes every alert, and results at most every ``result_interval_s`` per stream
    (0: every result, None: none), one line each, flushed (journald reads it live)."""

    def __init__(
        self,
        json_lines: bool = False,
        result_interval_s: float | None = 1.0,
        out: TextIO | None = None,
    ) -> None:
        self.json_lines = json_lines
        self.result_interval_s = result_interval_s
        self._out = out or sys.stdout
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def _write(self, line: str) -> None:
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def on_result(self, inference: Inference) -> None:
        """Print a result (rate-limited per stream outside JSON mode)."""
        if self.result_interval_s is None:
            return
        stream = inference.frame.stream
        now = time.monotonic()
        if now - self._last.get(stream, -1e9) < self.result_interval_s:
            return
        self._last[stream] = now
        if self.json_lines:
            self._write(json.dumps(inference.to_json(), separators=(",", ":")))
            return
        suffix = " (gated)" if inference.gated else ""
        self._write(
            f"result {stream} #{inference.frame.seq}: {describe(inference)}{suffix}"
        )

    def on_alert(self, alert: Alert) -> None:
        """Print an alert."""
        if self.json_lines:
            self._write(alert.encoded.decode())
            return
        data: dict[str, Any] = alert.to_json()
        values = " ".join(f"{k}={v}" for k, v in data["values"].items())
        self._write(
            f"ALERT {data['severity']} {alert.stream}/{alert.rule} "
            f"at {data['timestamp']}: "
            f"{values}"
        )
