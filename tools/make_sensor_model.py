"""Build a learned anomaly detector for one sensor channel: an int8 forecaster.

From a CSV of normal operation (``timestamp,value``, or ``--channel`` of a wider file)
it trains a small multilayer perceptron in NumPy to forecast the next sample from the
last ``--window`` samples, quantizes it to a full-integer .tflite, checks the int8
forecast against the float one, and writes beside it a JSON description: the window,
the normalisation, and the spread of the forecast error on normal data. A ``kind:
model`` detector runs it on the device through the same backends as the vision models
and scores each sample by its forecast error in units of that spread.

    python tools/make_sensor_model.py --csv normal.csv --out models/line3-temp \\
        [--rows 4000] [--window 32] [--hidden 32] [--epochs 60] [--seed 1]

Use data the site considers normal (``--rows``: only the first rows).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import tflite_int8
from numpy.typing import NDArray

from edgeinfer.sources.replay import read_csv_series

F32 = NDArray[np.float32]


def windows(series: F32, width: int) -> tuple[F32, F32]:
    """Inputs (N, width) of consecutive samples and the sample after each."""
    n = len(series) - width
    idx = np.arange(width)[None, :] + np.arange(n)[:, None]
    return series[idx], series[width:]


def train_mlp(
    rng: np.random.Generator,
    x: F32,
    y: F32,
    *,
    hidden: int,
    epochs: int,
    batch: int = 128,
    lr: float = 2e-3,
) -> list[tuple[F32, F32]]:
    """A ReLU MLP x -> hidden -> 1 fitted with Adam on mean squared error."""
    w1 = rng.normal(0, math.sqrt(2 / x.shape[1]), (hidden, x.shape[1]))
    params = [
        w1.astype(np.float32),
        np.zeros(hidden, np.float32),
        rng.normal(0, math.sqrt(1 / hidden), (1, hidden)).astype(np.float32),
        np.zeros(1, np.float32),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            xb, yb = x[idx], y[idx, None]
            h = np.maximum(xb @ params[0].T + params[1], 0)
            err = (h @ params[2].T + params[3]) - yb
            d_out = 2 * err / len(idx)
            dh = (d_out @ params[2]) * (h > 0)
            grads = [dh.T @ xb, dh.sum(0), d_out.T @ h, d_out.sum(0)]
            t += 1
            for k, g in enumerate(grads):
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g * g
                step = (
                    lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8)
                )
                params[k] = (params[k] - step).astype(np.float32)
    return [(params[0], params[1]), (params[2], params[3])]


def forecast(layers: list[tuple[F32, F32]], x: F32) -> F32:
    h = np.maximum(x @ layers[0][0].T + layers[0][1], 0)
    return (h @ layers[1][0].T + layers[1][1])[:, 0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--channel", default=None, help="column (default: the first)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=0, help="use the first N rows")
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    series_in = read_csv_series(args.csv, "train")
    channel = args.channel or series_in.channels[0]
    values = [
        r.values[channel]
        for r in series_in
        if math.isfinite(r.values.get(channel, math.nan))
    ]
    if args.rows:
        values = values[: args.rows]
    if len(values) < 4 * args.window:
        parser.error(f"{args.csv}: {len(values)} usable rows; need {4 * args.window}")
    raw = np.asarray(values, np.float64)
    mean, std = float(raw.mean()), float(raw.std() or 1.0)
    series = ((raw - mean) / std).astype(np.float32)
    x, y = windows(series, args.window)
    rng = np.random.default_rng(args.seed)
    layers = train_mlp(rng, x, y, hidden=args.hidden, epochs=args.epochs)
    residual = forecast(layers, x) - y
    spread = float(np.median(np.abs(residual - np.median(residual))) * 1.4826) or 1e-3

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "forecaster_int8.tflite"
    calib = x[rng.permutation(len(x))[:2000]]
    model_path.write_bytes(tflite_int8.build_mlp_tflite(layers, calib))

    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(model_path))
    interp.allocate_tensors()
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    (s_in, z_in), (s_out, z_out) = inp["quantization"], out["quantization"]
    check = x[:: max(1, len(x) // 500)]
    got = []
    for row in check:
        q = np.clip(np.rint(row / s_in) + z_in, -128, 127).astype(np.int8)
        interp.set_tensor(inp["index"], q[None])
        interp.invoke()
        got.append((float(interp.get_tensor(out["index"])[0, 0]) - z_out) * s_out)
    gap = np.abs(np.asarray(got) - forecast(layers, check))
    description = {
        "kind": "forecaster",
        "model": model_path.name,
        "channel": channel,
        "window": args.window,
        "mean": mean,
        "std": std,
        "residual_scale": spread,
        "trained_on": {"file": args.csv.name, "rows": len(values), "seed": args.seed},
        "int8_vs_float": {
            "median_abs": round(float(np.median(gap)), 5),
            "max_abs": round(float(gap.max()), 5),
        },
    }
    (args.out / "forecaster.json").write_text(json.dumps(description, indent=2) + "\n")
    print(
        f"wrote {model_path}: window {args.window}, residual scale {spread:.4f} "
        f"(normalised), int8 vs float median |diff| {np.median(gap):.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
