"""Shared CLI plumbing: error handling, ``--debug``, output on a terminal or a pipe."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from edgeinfer.errors import EdgeinferError

log = logging.getLogger("edgeinfer")
T = TypeVar("T")

_debug = False


def run_app(app: typer.Typer) -> NoReturn:
    """Run a Typer app; map edgeinfer errors to one line and a non-zero exit."""
    global _debug  # noqa: PLW0603 -- one process-wide switch read by the error handler
    argv = sys.argv[1:]
    if "--debug" in argv:
        argv.remove("--debug")
        _debug = True
    logging.basicConfig(
        level=logging.DEBUG if _debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        app(args=argv, prog_name="edgeinfer", standalone_mode=True)
    except EdgeinferError as err:
        if _debug:
            raise
        fail(str(err))
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


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


def print_json(obj: Any) -> None:
    """Print one compact JSON object on its own line and flush (for pipes)."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        # The backslash keeps rich from reading the brackets as markup.
        help="Override a config key, e.g. --set mqtt.port=1884 or "
        "--set accelerators=\\[npu,cpu]; repeatable. VALUE is YAML; relative paths "
        "resolve against the config file's directory.",
    ),
]
"""The ``--set`` option of every command that reads a config file."""
