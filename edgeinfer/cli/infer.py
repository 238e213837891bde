"""``edgeinfer infer``: one-shot inference on image files (or .npy tensors)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from edgeinfer.cli._common import SetOption
from edgeinfer.cli._model import (
    BackendOpt,
    ConfigOpt,
    DeviceOpt,
    LabelsOpt,
    ModelOpt,
    NameOpt,
    TaskOpt,
    ThreadsOpt,
    ThresholdOpt,
    build_spec,
    load_model,
)
from edgeinfer.cli._output import fail, print_json
from edgeinfer.errors import EdgeinferError, InputError
from edgeinfer.model import Model
from edgeinfer.postprocess.results import Result
from edgeinfer.preprocess.image import read_image


def infer_command(
    inputs: Annotated[
        list[Path], typer.Argument(help="Image files (or .npy tensors for raw models).")
    ],
    model: ModelOpt = None,
    labels: LabelsOpt = None,
    backend: BackendOpt = None,
    device: DeviceOpt = None,
    threads: ThreadsOpt = 0,
    task: TaskOpt = "auto",
    threshold: ThresholdOpt = 0.5,
    top: Annotated[
        int, typer.Option("--top", "-k", min=1, help="Classes to show.")
    ] = 5,
    config: ConfigOpt = None,
    name: NameOpt = None,
    overrides: SetOption = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per input.")
    ] = False,
) -> None:
    """Run a model once on each INPUT and print what it found."""
    spec = build_spec(
        model=model,
        labels=labels,
        backend=backend,
        device=device,
        threads=threads,
        task=task,
        threshold=threshold,
        top_k=top,
        config=config,
        overrides=overrides,
        name=name,
    )
    model_ = load_model(spec)
    if not json_out:
        for skipped in model_.selection.skipped:
            typer.echo(f"note: skipped {skipped.placement}: {skipped.reason}", err=True)
    failures = 0
    try:
        for path in inputs:
            try:
                record = _infer_one(model_, path)
            except EdgeinferError as err:
                failures += 1
                typer.echo(f"error: {err}", err=True)
                continue
            if json_out:
                print_json(record)
            else:
                _print_text(record)
    finally:
        model_.close()
    if failures:
        fail(f"{failures} of {len(inputs)} inputs failed", code=1)


def _infer_one(model: Model, path: Path) -> dict[str, Any]:
    start = time.perf_counter()
    if path.suffix.lower() == ".npy":
        result = _infer_tensor(model, path)
    else:
        result = model.predict(read_image(path))
    latency = (time.perf_counter() - start) * 1000
    placement = model.backend.placement
    record: dict[str, Any] = {
        "input": str(path),
        "backend": placement.backend,
        "device": placement.device,
        "task": result.task,
        **result.to_json(),
        "latency_ms": round(latency, 3),
    }
    if model.selection.skipped:
        record["fallback"] = [
            {"placement": str(s.placement), "reason": s.reason}
            for s in model.selection.skipped
        ]
    return record


def _infer_tensor(model: Model, path: Path) -> Result:
    try:
        tensor = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"input {path} is not a readable .npy array ({err})") from err
    spec = model.backend.inputs[0]
    if tuple(tensor.shape) != spec.shape or tensor.dtype != spec.dtype:
        raise InputError(
            f"input {path} is {tensor.dtype}{list(tensor.shape)} but the model takes "
            f"{spec.describe()} — save an array of that shape and dtype"
        )
    return model.decode(model.backend.infer([tensor]))


def _print_text(record: dict[str, Any]) -> None:
    head = (
        f"{record['input']}: {record['task']} on "
        f"{record['backend']}:{record['device']} "
        f"in {record['latency_ms']:.1f} ms"
    )
    typer.echo(head)
    for c in record.get("top", []):
        typer.echo(f"  {c['score']:.3f}  {c['label']}  [{c['index']}]")
    for d in record.get("detections", []):
        box = ", ".join(f"{v:.3f}" for v in d["box"])
        typer.echo(f"  {d['score']:.3f}  {d['label']}  box [{box}]")
    for k in record.get("keypoints", []):
        typer.echo(f"  {k['score']:.3f}  {k['name']:<15} x={k['x']:.3f} y={k['y']:.3f}")
    for o in record.get("outputs", []):
        vals = o["values"]
        shown = ", ".join(f"{v:.4g}" for v in vals[:8]) + (
            " ..." if len(vals) > 8 else ""
        )
        typer.echo(f"  {o['name']} {o['shape']}: {shown}")
