"""The ``edgeinfer`` command line.

Every command turns an ``EdgeinferError`` into one line on stderr and exit status 1
(2 for usage errors); ``--debug`` shows the traceback instead. ``edgeinfer run``, the
daemon, goes straight to ``edgeinfer.cli.daemon`` without importing the CLI framework;
every other command is in the Typer app of ``edgeinfer.cli.app``.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point of the ``edgeinfer`` console script."""
    argv = [arg for arg in sys.argv[1:] if arg != "--debug"]
    debug = len(argv) < len(sys.argv) - 1
    if argv[:1] == ["run"]:
        from edgeinfer.cli import daemon  # noqa: PLC0415

        daemon.main(argv[1:], debug)
    from edgeinfer.cli._common import run_app  # noqa: PLC0415
    from edgeinfer.cli.app import app  # noqa: PLC0415

    run_app(app, argv, debug)
