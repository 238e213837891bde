"""Finding the running daemon from the CLI: its control socket, from the config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgeinfer.cli.daemon import DEFAULT_CONFIG

DEFAULT_SOCKET = Path("/var/lib/edgeinfer/control.sock")
"""Where the packaged service listens (StateDirectory=edgeinfer)."""

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The daemon's config (YAML).")
]
SocketOption = Annotated[
    Path | None,
    typer.Option(
        "--socket",
        help="The daemon's control socket; default: from the config "
        "(service.control_socket, or control.sock in state_dir).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def control_socket(
    config: Path, socket: Path | None, overrides: list[str] | None = None
) -> Path:
    """The socket to talk to: ``--socket``, else the one ``config`` names, else the
    packaged service's when the default config file is not there."""
    if socket is not None:
        return socket
    if config == DEFAULT_CONFIG and not config.exists():
        return DEFAULT_SOCKET
    from edgeinfer.config import load_config  # noqa: PLC0415 -- keep startup light

    return load_config(config, overrides or []).control_socket
