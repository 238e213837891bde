"""``edgeinfer run`` (the daemon in the foreground) and ``edgeinfer replay``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgeinfer.cli import daemon
from edgeinfer.cli._common import SetOption
from edgeinfer.cli._output import print_json

JsonOpt = Annotated[bool, typer.Option("--json", help="JSON lines on stdout.")]


def run_command(ctx: typer.Context) -> None:
    """Run the daemon in the foreground until SIGTERM or SIGINT (or all files end).

    See ``edgeinfer run --help``. The entry point hands ``run`` to
    ``edgeinfer.cli.daemon`` before Typer is imported; this command only lists it.
    """
    daemon.main(ctx.args, debug=False)


def replay_command(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Device config (YAML).")
    ],
    input_path: Annotated[
        Path,
        typer.Option("--input", "-i", help="Recorded CSV time series or video file."),
    ],
    stream: Annotated[
        str | None,
        typer.Option("--stream", help="Which configured stream the file stands for."),
    ] = None,
    overrides: SetOption = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the configured stages and rules over a recorded file, as fast as possible.

    Alerts carry the file's own timestamps; what replay reports is what the daemon
    would have reported on the same data.
    """
    from edgeinfer.config import load_config  # noqa: PLC0415
    from edgeinfer.replay import replay_file  # noqa: PLC0415
    from edgeinfer.sinks.stdout import StdoutSink  # noqa: PLC0415

    cfg = load_config(config, overrides or [])
    daemon.configure_logging("warning", to_stderr=True)
    sink = StdoutSink(json_lines=json_out, result_interval_s=None)
    summary = replay_file(cfg, input_path, stream, sink)
    if json_out:
        print_json({"kind": "summary", **summary})
    else:
        typer.echo(
            f"replayed {summary['samples']} samples of {input_path} as stream "
            f"{summary['stream']}: {summary['alerts']} alerts, {summary['skipped']} "
            f"rows skipped, {summary['samples_per_s']:.0f} samples/s"
        )
