"""``edgeinfer doctor``: checks with pass/fail and a fix; exit 1 when one fails."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from edgeinfer.cli._common import SetOption, is_terminal
from edgeinfer.cli._daemon import ConfigOption, JsonOption, SocketOption
from edgeinfer.cli._output import print_json
from edgeinfer.cli.daemon import DEFAULT_CONFIG
from edgeinfer.doctor import CheckResult, run_doctor

MARKS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


def doctor_command(
    config: ConfigOption = DEFAULT_CONFIG,
    socket: SocketOption = None,
    overrides: SetOption = None,
    json_out: JsonOption = False,
    broker_timeout: Annotated[
        float | None,
        typer.Option(
            "--broker-timeout",
            min=0.5,
            help="Seconds to wait for the broker; default: mqtt.connect_timeout_s.",
        ),
    ] = None,
) -> None:
    """Check the config, models, cameras, serial ports, broker, clock, disk, groups
    and device permissions; each failure says what to do. Exit 1 if any fails."""
    results = run_doctor(config, overrides or [], socket, broker_timeout)
    ok = all(r.ok for r in results)
    if json_out:
        print_json({"ok": ok, "checks": [r.to_json() for r in results]})
    elif is_terminal():
        _print_table(results)
    else:
        for r in results:
            line = f"{MARKS[r.outcome]} {r.name}: {r.detail}"
            typer.echo(line + (f" — fix: {r.fix}" if r.fix else ""))
    if not ok:
        failures = sum(not r.ok for r in results)
        if not json_out:
            typer.echo(f"{failures} check(s) failed", err=True)
        sys.exit(1)


def _print_table(results: list[CheckResult]) -> None:
    from rich.console import Console  # noqa: PLC0415 -- only on a terminal
    from rich.table import Table  # noqa: PLC0415

    style = {
        "pass": "[green]✔[/]",
        "warn": "[yellow]![/]",
        "fail": "[red]✘[/]",
        "skip": "[dim]-[/]",
    }
    table = Table(title="edgeinfer doctor")
    for col in ("", "check", "found", "fix"):
        table.add_column(col)
    for r in results:
        table.add_row(style[r.outcome], r.name, r.detail, f"[dim]{r.fix}[/]")
    Console().print(table)
