"""Options that pick a model and where it runs, shared by ``infer`` and ``bench``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from edgeinfer.backends.base import BackendOptions
from edgeinfer.errors import ConfigError
from edgeinfer.model import Model, ModelSpec
from edgeinfer.placement import candidates_from_flags

ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", "-m", help="Model file (.tflite, .onnx or OpenVINO .xml)."),
]
LabelsOpt = Annotated[
    Path | None, typer.Option("--labels", "-l", help="Labels file, one per line.")
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend",
        "-b",
        help="litert, openvino or onnxruntime (default: the best one present).",
    ),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        "-d",
        help="cpu, edgetpu, usb[:N], pci[:N] (LiteRT); CPU, GPU, NPU, AUTO (OpenVINO).",
    ),
]
ThreadsOpt = Annotated[
    int, typer.Option("--threads", min=0, help="CPU threads (0: all cores).")
]
TaskOpt = Annotated[
    str,
    typer.Option("--task", help="auto, classification, detection, pose or raw."),
]
ThresholdOpt = Annotated[
    float,
    typer.Option("--threshold", min=0.0, max=1.0, help="Detection score threshold."),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Device config (YAML).")
]
NameOpt = Annotated[
    str | None,
    typer.Option("--name", help="Which model of the config (default: first)."),
]

_TASKS = ("auto", "classification", "detection", "pose", "raw")


def build_spec(
    *,
    model: Path | None,
    labels: Path | None = None,
    backend: str | None = None,
    device: str | None = None,
    threads: int = 0,
    task: str = "auto",
    threshold: float = 0.5,
    top_k: int = 5,
    config: Path | None = None,
    overrides: list[str] | None = None,
    name: str | None = None,
    hint: Literal["latency", "throughput"] = "latency",
    streams: int = 1,
) -> ModelSpec:
    """A ``ModelSpec`` from command-line flags, or from a config's model section."""
    if task not in _TASKS:
        raise ConfigError(f"unknown task {task!r} — use one of: {', '.join(_TASKS)}")
    if config is not None:
        from edgeinfer.loading import model_spec_from_config  # noqa: PLC0415

        return model_spec_from_config(
            config, overrides or [], name, backend=backend, device=device
        )
    if model is None:
        raise ConfigError("no model given — pass --model FILE or --config FILE")
    options = BackendOptions(threads=threads, hint=hint, streams=streams)
    return ModelSpec(
        path=model,
        candidates=tuple(candidates_from_flags(model, backend, device, options)),
        labels=labels,
        task=task,  # type: ignore[arg-type]  # checked against _TASKS above
        score_threshold=threshold,
        top_k=top_k,
        name=model.stem,
    )


def load_model(spec: ModelSpec) -> Model:
    """Load ``spec`` (selection with fallback, labels checked against the model)."""
    return Model.load(spec)
