"""``edgeinfer devices``: each backend and device, found or not, with reason and fix."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from edgeinfer.backends import BACKENDS, backend_module
from edgeinfer.backends.probe import DeviceReport
from edgeinfer.cli._common import is_terminal
from edgeinfer.cli._output import print_json


def probe_all() -> list[DeviceReport]:
    """Probe every registered backend (each imports its runtime only here)."""
    reports: list[DeviceReport] = []
    for name in BACKENDS:
        reports.extend(backend_module(name).probe())
    return reports


def devices_command(
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object.")
    ] = False,
) -> None:
    """List the accelerators this machine has, and why any is unusable."""
    reports = probe_all()
    if json_out:
        print_json({"devices": [asdict(r) for r in reports]})
        return
    if is_terminal():
        _print_table(reports)
        return
    for r in reports:
        state = "ok     " if r.found else "missing"
        line = f"{state} {r.backend}:{r.device}"
        if r.detail:
            line += f"  {r.detail}"
        if not r.found:
            line += f"  — {r.reason}; fix: {r.fix}"
        typer.echo(line)


def _print_table(reports: list[DeviceReport]) -> None:
    from rich.console import Console  # noqa: PLC0415 -- only on a terminal
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="edgeinfer devices")
    for col in ("", "backend", "device", "detail", "reason / fix"):
        table.add_column(col)
    for r in reports:
        mark = "[green]✔[/]" if r.found else "[red]✘[/]"
        why = "" if r.found else f"{r.reason}\n[dim]fix: {r.fix}[/]"
        table.add_row(mark, r.backend, r.device, r.detail, why)
    Console().print(table)
