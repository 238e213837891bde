"""``edgeinfer bench``: latency percentiles and throughput of a model on a backend."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from edgeinfer.backends import load_backend
from edgeinfer.bench import BenchResult, bench_async, bench_sync, bench_workers, random_inputs
from edgeinfer.cli._common import is_terminal, print_json
from edgeinfer.cli._model import (
    BackendOpt,
    ConfigOpt,
    DeviceOpt,
    ModelOpt,
    NameOpt,
    SetOpt,
    ThreadsOpt,
    build_spec,
)
from edgeinfer.backends.base import BackendOptions
from edgeinfer.backends.select import select_backend


def bench_command(
    model: ModelOpt = None,
    backend: BackendOpt = None,
    device: DeviceOpt = None,
    streams: Annotated[
        int,
        typer.Option(
            "--streams", "-n", min=0,
            help="Requests in flight (0: the runtime's optimal number).",
        ),
    ] = 1,
    duration: Annotated[
        float, typer.Option("--duration", "-t", min=0.1, help="Timed seconds.")
    ] = 10.0,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs first.")] = 5,
    threads: ThreadsOpt = 0,
    hint: Annotated[
        str | None,
        typer.Option("--hint", help="OpenVINO hint: latency or throughput (default by streams)."),
    ] = None,
    config: ConfigOpt = None,
    name: NameOpt = None,
    overrides: SetOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Measure latency (p50/p95/p99) and throughput of a model with random inputs."""
    chosen_hint = hint or ("latency" if streams == 1 else "throughput")
    if chosen_hint not in ("latency", "throughput"):
        raise typer.BadParameter("use latency or throughput", param_hint="--hint")
    spec = build_spec(
        model=model, backend=backend, device=device, threads=threads, config=config,
        overrides=overrides, name=name, hint=chosen_hint,  # type: ignore[arg-type]
        streams=max(streams, 1),
    )
    selection = select_backend(spec.path, list(spec.candidates), spec.cpu_twin)
    first = selection.backend
    inputs = random_inputs(first.inputs)
    if not json_out and is_terminal():
        typer.echo(f"benchmarking {selection.model_path} on {first.placement} ...", err=True)
    try:
        result = _run(first, selection.model_path, streams, duration, warmup, threads)
    finally:
        first.close()
    if json_out:
        print_json(result.to_json())
        return
    typer.echo(
        f"{result.backend}:{result.device}  streams {result.streams}  "
        f"{result.count} inferences in {result.seconds:.1f} s\n"
        f"latency ms  p50 {result.p50_ms:.2f}  p95 {result.p95_ms:.2f}  "
        f"p99 {result.p99_ms:.2f}  mean {result.mean_ms:.2f}\n"
        f"throughput  {result.throughput_fps:.1f} inferences/s"
    )


def _run(first, model_path, streams: int, duration: float, warmup: int, threads: int) -> BenchResult:  # type: ignore[no-untyped-def]
    inputs = random_inputs(first.inputs)
    if hasattr(first, "submit"):
        n = streams or first.optimal_requests
        if n == 1:
            return bench_sync(first, inputs, duration, warmup)
        return bench_async(first, inputs, n, duration, warmup)
    n = streams or (os.cpu_count() or 1)
    if n == 1:
        return bench_sync(first, inputs, duration, warmup)
    per_worker = threads or max(1, (os.cpu_count() or 1) // n)
    options = BackendOptions(threads=per_worker)
    first.close()
    return bench_workers(
        lambda: load_backend(first.placement, model_path, options),
        inputs, n, duration, warmup,
    )
