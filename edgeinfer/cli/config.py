"""``edgeinfer config``: check a config file the way the daemon reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgeinfer.cli._common import SetOption
from edgeinfer.cli._output import print_json
from edgeinfer.config import describe_accelerator, dump_config, load_config

app = typer.Typer(help="Check config files.", no_args_is_help=True)


@app.command("check")
def check_command(
    file: Annotated[Path, typer.Argument(help="Config file (YAML).")],
    overrides: SetOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the validated config as JSON.")
    ] = False,
) -> None:
    """Validate FILE with its overrides; exit 1 with one line per problem."""
    config = load_config(file, overrides or ())
    # Model files may be installed after the config; a missing one is a warning.
    warnings = [
        f"{key}: {path} not found — install it before edgeinfer run"
        for key, path in config.referenced_files().items()
        if not path.exists()
    ]
    if as_json:
        print_json(
            {
                "ok": True,
                "file": str(file),
                "config": dump_config(config),
                "warnings": warnings,
            }
        )
        return
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    count = len(config.models)
    accelerators = ", ".join(describe_accelerator(a) for a in config.accelerators)
    typer.echo(
        f"ok: {file} ({count} model{'' if count == 1 else 's'}, "
        f"accelerators: {accelerators})"
    )
