"""The ``service`` section: running under systemd, and the local control socket."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edgeinfer.config._base import ConfigModel, ConfigPath


class ServiceConfig(ConfigModel):
    """How the daemon talks to systemd and to the technician's CLI."""

    control_socket: ConfigPath | None = Field(
        default=None,
        description="Unix socket the CLI (edgeinfer status, doctor) talks to, mode "
        "0660; default: control.sock in state_dir.",
    )
    control: bool = Field(
        default=True, description="Serve the control socket; false: no local control."
    )
    status_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between the one-line STATUS updates sent to systemd.",
    )

    def socket_path(self, state_dir: Path) -> Path:
        """The control socket in effect: ``control_socket`` or state_dir's."""
        return self.control_socket or state_dir / "control.sock"
