"""``edgeinfer bench``: latency percentiles and throughput of a model on a backend."""

from __future__ import annotations

from typing import Annotated

import typer

from edgeinfer.backends.select import select_backend
from edgeinfer.bench import BenchResult, run_bench
from edgeinfer.cli._common import SetOption, is_terminal, with_progress
from edgeinfer.cli._model import (
    BackendOpt,
    ConfigOpt,
    DeviceOpt,
    ModelOpt,
    NameOpt,
    ThreadsOpt,
    build_spec,
)
from edgeinfer.cli._output import print_json


def bench_command(
    model: ModelOpt = None,
    backend: BackendOpt = None,
    device: DeviceOpt = None,
    streams: Annotated[
        int,
        typer.Option(
            "--streams",
            "-n",
            min=0,
            help="Requests in flight (0: the runtime's optimal number).",
        ),
    ] = 1,
    duration: Annotated[
        float, typer.Option("--duration", "-t", min=0.1, help="Timed seconds.")
    ] = 10.0,
    warmup: Annotated[
        int, typer.Option("--warmup", min=0, help="Untimed runs first.")
    ] = 5,
    threads: ThreadsOpt = 0,
    hint: Annotated[
        str | None,
        typer.Option(
            "--hint", help="OpenVINO hint: latency or throughput (default by streams)."
        ),
    ] = None,
    config: ConfigOpt = None,
    name: NameOpt = None,
    overrides: SetOption = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object.")
    ] = False,
) -> None:
    """Measure latency (p50/p95/p99) and throughput of a model with random inputs."""
    chosen_hint = hint or ("latency" if streams == 1 else "throughput")
    if chosen_hint not in ("latency", "throughput"):
        raise typer.BadParameter("use latency or throughput", param_hint="--hint")
    spec = build_spec(
        model=model,
        backend=backend,
        device=device,
        threads=threads,
        config=config,
        overrides=overrides,
        name=name,
        hint="latency" if chosen_hint == "latency" else "throughput",
        streams=max(streams, 1),
    )
    selection = select_backend(
        spec.path, list(spec.candidates), spec.cpu_twin, dict(spec.variants)
    )

    def bench() -> BenchResult:
        return run_bench(selection, streams, duration, warmup, threads)

    if not json_out and is_terminal():
        where = selection.backend.placement
        label = f"benchmarking {selection.model_path.name} on {where}"
        result = with_progress(bench, duration, label)
    else:
        result = bench()
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
