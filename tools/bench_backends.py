"""Compare ``edgeinfer bench`` with the vendors' own benchmark tools, side by side.

Runs, in alternating rounds on the same machine:
  * ``litert-benchmark`` (ai-edge-litert) vs ``edgeinfer bench --backend litert``:
    median latency with the same thread count;
  * ``benchmark_app -hint throughput`` (openvino) vs
    ``edgeinfer bench --backend openvino --streams N`` with N = the number of infer
    requests benchmark_app chose: throughput;
  * start-up to the first inference: wall time of ``edgeinfer infer --backend litert``.
and prints a Markdown table of the medians over the rounds with the ratios.

    python tools/bench_backends.py \
        --model ../shared/assets/models/mobilenet_v2_1.0_224_quant.tflite
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def run(cmd: list[str], stdout_only: bool = False) -> str:
    """Run ``cmd``; return its output (stdout and stderr unless ``stdout_only``)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout if stdout_only else proc.stdout + proc.stderr


def litert_vendor(model: Path, threads: int, runs: int) -> float:
    """Median latency (ms) from litert-benchmark."""
    out = run(
        [
            str(BIN / "litert-benchmark"),
            "--model",
            str(model),
            "--num_threads",
            str(threads),
            "--num_runs",
            str(runs),
        ]
    )
    return float(re.search(r"Inference \(median\):\s+([\d.]+) ms", out).group(1))  # type: ignore[union-attr]


def edgeinfer_bench(args: list[str]) -> dict[str, object]:
    """Parsed ``edgeinfer bench --json`` output."""
    out = run([str(BIN / "edgeinfer"), "bench", "--json", *args], stdout_only=True)
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def openvino_vendor(model: Path, seconds: float) -> tuple[float, int]:
    """(throughput FPS, infer requests) from benchmark_app -hint throughput."""
    out = run(
        [
            str(BIN / "benchmark_app"),
            "-m",
            str(model),
            "-d",
            "CPU",
            "-hint",
            "throughput",
            "-t",
            str(int(seconds)),
        ]
    )
    fps = float(re.search(r"Throughput:\s+([\d.]+) FPS", out).group(1))  # type: ignore[union-attr]
    nireq = int(re.search(r"(\d+) inference requests", out).group(1))  # type: ignore[union-attr]
    return fps, nireq


def startup(model: Path, image: Path) -> float:
    """Wall seconds of a whole ``edgeinfer infer`` process with LiteRT on the CPU."""
    start = time.perf_counter()
    run([str(BIN / "edgeinfer"), "infer", "-b", "litert", "-m", str(model), str(image)])
    return time.perf_counter() - start


def main() -> None:
    """Parse arguments, run the rounds, print the table."""
    assets = Path(__file__).resolve().parents[2] / "shared" / "assets"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        type=Path,
        default=assets / "models" / "mobilenet_v2_1.0_224_quant.tflite",
    )
    parser.add_argument("--image", type=Path, default=assets / "images" / "cat.bmp")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    lat_vendor, lat_ours, fps_vendor, fps_ours, starts = [], [], [], [], []
    nireq = 0
    for r in range(args.rounds):
        ours = edgeinfer_bench(
            [
                "-m",
                str(args.model),
                "-b",
                "litert",
                "--threads",
                str(args.threads),
                "--duration",
                str(args.seconds),
            ]
        )
        lat_ours.append(float(ours["latency_ms"]["p50"]))  # type: ignore[index]
        runs = max(50, int(ours["count"]))  # type: ignore[call-overload]
        lat_vendor.append(litert_vendor(args.model, args.threads, runs))
        fps, nireq = openvino_vendor(args.model, args.seconds)
        fps_vendor.append(fps)
        ov = edgeinfer_bench(
            [
                "-m",
                str(args.model),
                "-b",
                "openvino",
                "--streams",
                str(nireq),
                "--duration",
                str(args.seconds),
            ]
        )
        fps_ours.append(float(ov["throughput_fps"]))  # type: ignore[arg-type]
        starts.append(startup(args.model, args.image))
        print(
            f"round {r + 1}: litert {lat_ours[-1]:.2f} vs {lat_vendor[-1]:.2f} ms; "
            f"openvino {fps_ours[-1]:.1f} vs {fps_vendor[-1]:.1f} fps; "
            f"start-up {starts[-1]:.2f} s",
            file=sys.stderr,
        )

    med = statistics.median
    print(
        f"| measure ({args.model.name}, {args.threads} threads) "
        "| vendor tool | edgeinfer | ratio |"
    )
    print("|---|---|---|---|")
    print(
        f"| LiteRT median latency, ms | {med(lat_vendor):.2f} | {med(lat_ours):.2f} "
        f"| {med(lat_ours) / med(lat_vendor):.3f} (lower is better) |"
    )
    print(
        f"| OpenVINO throughput, {nireq} requests, fps | {med(fps_vendor):.1f} "
        f"| {med(fps_ours):.1f} "
        f"| {med(fps_ours) / med(fps_vendor):.3f} (higher is better) |"
    )
    print(f"| start-up to first inference (LiteRT), s | — | {med(starts):.2f} | — |")


if __name__ == "__main__":
    main()
