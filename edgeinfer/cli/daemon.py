"""``edgeinfer run``: the daemon in the foreground.

Parsed with argparse rather than the CLI framework the other commands use: this is
the process that stays up for months, and Typer with what it imports would hold
about 3 MB of it for nothing. ``edgeinfer --help`` still lists it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from edgeinfer.cli._output import SET_HELP, guarded, print_json

DEFAULT_CONFIG = Path("/etc/edgeinfer/config.yaml")
SUMMARY = "Run the daemon in the foreground until SIGTERM or SIGINT (or all files end)."
DESCRIPTION = """\
Under systemd (Type=notify) it reports READY, STATUS and watchdog pings; SIGHUP
reloads the config file. The CLI reaches it over the control socket.

Results (at most one line a second per stream; every one with --json) and alerts go
to stdout, alerts also to the durable alert log under state_dir."""


def main(args: list[str], debug: bool = False) -> NoReturn:
    """``edgeinfer run ARGS``; exits 0 once drained, 1 on an edgeinfer error, 2 on a
    usage error."""
    parser = argparse.ArgumentParser(
        prog="edgeinfer run",
        description=f"{SUMMARY}\n\n{DESCRIPTION}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        "-c",
        type=Path,
        default=DEFAULT_CONFIG,
        help="Device config (YAML); default %(default)s.",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=SET_HELP,
    )
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout.")
    ns = parser.parse_args(args)
    guarded(lambda: run_daemon(ns.config, ns.overrides, ns.json), debug)


def configure_logging(level: str, to_stderr: bool) -> None:
    """Log records as ``LEVEL name: message`` at ``level`` (unless ``--debug``)."""
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr if to_stderr else sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    if not logging.getLogger("edgeinfer").isEnabledFor(logging.DEBUG):
        root.setLevel(level.upper())


def run_daemon(config: Path, overrides: list[str], json_out: bool) -> None:
    """Load ``config``, run until a signal (or every file ends), drain, summarise."""
    from edgeinfer.app import Daemon  # noqa: PLC0415 -- after the arguments parse
    from edgeinfer.config import load_config  # noqa: PLC0415
    from edgeinfer.service import Service  # noqa: PLC0415
    from edgeinfer.sinks.stdout import StdoutSink  # noqa: PLC0415

    cfg = load_config(config, overrides)
    configure_logging(cfg.log_level, to_stderr=json_out)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info(
            "%s: draining and stopping", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sink = StdoutSink(json_lines=json_out, result_interval_s=0.0 if json_out else 1.0)
    daemon = Daemon(cfg, sinks=[sink], config_file=config, overrides=overrides)
    service = Service(daemon)
    # SIGHUP (systemctl reload): re-read the file; an invalid one changes nothing.
    # Set before loading, so a reload asked for meanwhile waits instead of killing.
    signal.signal(signal.SIGHUP, service.on_sighup)
    try:
        daemon.load()
        daemon.start()
        service.start()
        daemon.wait(stop)
    finally:
        service.stop()
        daemon.stop()
    if json_out:
        print_json({"kind": "status", **daemon.status()})
    else:
        _print_summary(daemon.status())


def _print_summary(status: dict[str, Any]) -> None:
    """One line per stream and model when the daemon stops, for people."""
    for name, s in status["streams"].items():
        e2e = s["latency_ms"].get("end_to_end", {})
        p50 = f", end-to-end p50 {e2e['p50']:.1f} ms" if e2e.get("p50") else ""
        print(
            f"stream {name}: {s['frames_in']} frames, {s['inferred']} inferred, "
            f"{s['dropped']} dropped, {s['gated']} gated, {s['errors']} errors, "
            f"{s['alerts']} alerts{p50}"
        )
    for name, m in status["models"].items():
        fallback = "; ".join(f"{f['placement']}: {f['reason']}" for f in m["fallback"])
        print(
            f"model {name}: {m['placement']}"
            + (f" (skipped {fallback})" if fallback else ""),
            flush=True,
        )
