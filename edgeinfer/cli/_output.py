"""What every command shares without the CLI framework: failing in one line, JSON
lines, ``--debug``, and the ``--set`` option's help. ``edgeinfer run`` is parsed
without Typer (see ``edgeinfer.cli.daemon``), so these must not import it."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from edgeinfer.errors import EdgeinferError

SET_HELP = (
    "Override a config key, e.g. --set mqtt.port=1884 or --set accelerators=[npu,cpu]; "
    "repeatable. VALUE is YAML; relative paths resolve against the config file's "
    "directory."
)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


def print_json(obj: Any) -> None:
    """Print one compact JSON object on its own line and flush (for pipes)."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def guarded(command: Callable[[], object], debug: bool) -> NoReturn:
    """Run ``command`` and exit: an edgeinfer error becomes one line on stderr and
    status 1 (``debug`` shows the traceback instead), Ctrl-C status 130."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        command()
    except EdgeinferError as err:
        if debug:
            raise
        fail(str(err))
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0)
