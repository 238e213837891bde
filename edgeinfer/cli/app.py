"""The Typer app of every command but the daemon's own ``run`` (edgeinfer.cli.daemon):
one module per command group, joined here."""

from __future__ import annotations

import typer

from edgeinfer.cli import (
    alerts,
    bench,
    camera,
    config,
    devices,
    doctor,
    fleet,
    infer,
    models,
    run,
    serialport,
    status,
)

app = typer.Typer(
    name="edgeinfer",
    help="Edge inference runtime: run quantized models on the best local accelerator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("infer")(infer.infer_command)
app.command("bench")(bench.bench_command)
app.command("devices")(devices.devices_command)
app.command(
    "run",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)(run.run_command)
app.command("replay")(run.replay_command)
app.command("status")(status.status_command)
app.command("doctor")(doctor.doctor_command)
app.add_typer(config.app, name="config")
app.add_typer(camera.app, name="camera")
app.add_typer(serialport.app, name="serial")
app.add_typer(alerts.app, name="alerts")
app.add_typer(models.app, name="models")
app.add_typer(fleet.app, name="fleet")
