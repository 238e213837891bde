"""Compare an int8 model with its float original: accuracy, size on disk and speed.

Accuracy is top-1 against labels when a labels file is given, otherwise the top-1
agreement of the int8 model with the float one (the float model then scores 1.0).
Speed is what ``edgeinfer bench --json`` measures on this machine, run as a separate
process for each model so that neither warms the other's caches or threads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Measured:
    """One model as run here: where, how big (bytes), its top-1 and its bench."""

    path: Path
    backend: str
    size_bytes: int
    top1: NDArray[np.int64]
    bench: dict[str, Any]

    def to_json(self, accuracy: float) -> dict[str, Any]:
        """The model's entry in the report."""
        return {
            "model": str(self.path),
            "backend": self.backend,
            "size_bytes": self.size_bytes,
            "accuracy": round(accuracy, 4),
            "bench": self.bench,
        }


def model_size(path: Path) -> int:
    """Bytes on disk, counting an OpenVINO ``.xml`` with its ``.bin`` weights."""
    size = path.stat().st_size
    if path.suffix == ".xml" and path.with_suffix(".bin").exists():
        size += path.with_suffix(".bin").stat().st_size
    return size


def bench(path: Path, backend: str, duration_s: float) -> dict[str, Any]:
    """``edgeinfer bench --json`` of ``path`` on ``backend`` (one stream)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeinfer",
            "bench",
            "--model",
            str(path),
            "--backend",
            backend,
            "--duration",
            str(duration_s),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"edgeinfer bench failed on {path}:\n{proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def compare(
    fmt: str,
    float_model: Measured,
    int8_model: Measured,
    labels: NDArray[np.int64] | None,
    tolerance: float,
) -> dict[str, Any]:
    """The report entry of one conversion; ``drop`` is float minus int8 accuracy."""
    agreement = float((int8_model.top1 == float_model.top1).mean())
    if labels is not None:
        metric = "accuracy"
        float_acc = float((float_model.top1 == labels).mean())
        int8_acc = float((int8_model.top1 == labels).mean())
    else:
        metric, float_acc, int8_acc = "agreement", 1.0, agreement
    drop = float_acc - int8_acc
    f_p50 = float_model.bench["latency_ms"]["p50"]
    i_p50 = int8_model.bench["latency_ms"]["p50"]
    return {
        "format": fmt,
        "metric": metric,
        "samples": int(float_model.top1.size),
        "float": float_model.to_json(float_acc),
        "int8": int8_model.to_json(int8_acc),
        "agreement": round(agreement, 4),
        "drop": round(drop, 4),
        "tolerance": tolerance,
        "within_tolerance": drop <= tolerance,
        "size_ratio": round(int8_model.size_bytes / float_model.size_bytes, 3),
        "speedup_p50": round(f_p50 / i_p50, 2) if i_p50 > 0 else None,
    }


def format_table(entries: list[dict[str, Any]]) -> str:
    """A fixed-width table of the report, one float and one int8 row per format."""
    head = (
        f"{'format':<10} {'model':<6} {'backend':<12} {'size KiB':>9} "
        f"{'metric':<10} {'value':>6} {'p50 ms':>8} {'p99 ms':>8} {'fps':>8}"
    )
    rows = [head, "-" * len(head)]
    for e in entries:
        for kind in ("float", "int8"):
            m = e[kind]
            lat = m["bench"]["latency_ms"]
            rows.append(
                f"{e['format']:<10} {kind:<6} {m['backend']:<12} "
                f"{m['size_bytes'] / 1024:>9.1f} {e['metric']:<10} "
                f"{m['accuracy']:>6.3f} {lat['p50']:>8.3f} {lat['p99']:>8.3f} "
                f"{m['bench']['throughput_fps']:>8.1f}"
            )
    return "\n".join(rows)


def warnings_for(entries: list[dict[str, Any]]) -> list[str]:
    """One WARNING line per conversion that lost more than its tolerance."""
    return [
        f"WARNING: {e['format']} int8 {e['metric']} dropped {e['drop']:.4f} "
        f"({e['float']['accuracy']:.4f} -> {e['int8']['accuracy']:.4f}), "
        f"more than the tolerance {e['tolerance']}"
        for e in entries
        if not e["within_tolerance"]
    ]
