"""Shared CLI plumbing: error handling, ``--debug``, output on a terminal or a pipe."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Annotated, NoReturn, TypeVar

import typer

from edgeinfer.cli._output import SET_HELP, guarded

T = TypeVar("T")


def run_app(app: typer.Typer, argv: list[str], debug: bool) -> NoReturn:
    """Run a Typer app on ``argv``; edgeinfer errors become one line and exit 1."""
    guarded(lambda: app(args=argv, prog_name="edgeinfer", standalone_mode=True), debug)


def is_terminal() -> bool:
    """True when stdout is a terminal (tables and colour), false when piped."""
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def with_progress(work: Callable[[], T], seconds: float, label: str) -> T:
    """Run ``work`` (expected to take about ``seconds``) with a progress bar on the
    terminal's stderr; the bar disappears when it is done."""
    from rich.console import Console  # noqa: PLC0415 -- terminals only
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as err:  # re-raised in the calling thread
            failed.append(err)

    thread = threading.Thread(target=run, name="progress-work", daemon=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=seconds)
        start = time.monotonic()
        thread.start()
        while thread.is_alive():
            thread.join(0.1)
            bar.update(task, completed=min(seconds, time.monotonic() - start))
    if failed:
        raise failed[0]
    return done[0]


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        # The backslash keeps rich from reading the brackets as markup.
        help=SET_HELP.replace("[", "\\["),
    ),
]
"""The ``--set`` option of every command that reads a config file."""
