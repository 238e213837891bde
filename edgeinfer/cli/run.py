"""``edgeinfer run`` (the daemon in the foreground) and ``edgeinfer replay``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from edgeinfer.cli._common import SetOption, print_json

DEFAULT_CONFIG = Path("/etc/edgeinfer/config.yaml")
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON lines on stdout.")]


def _configure_logging(level: str, to_stderr: bool) -> None:
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr if to_stderr else sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    if not logging.getLogger("edgeinfer").isEnabledFor(logging.DEBUG):
        root.setLevel(level.upper())


def run_command(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Device config (YAML).")
    ] = DEFAULT_CONFIG,
    overrides: SetOption = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the daemon in the foreground until SIGTERM or SIGINT (or every file ends).

    Under systemd (Type=notify) it reports READY, STATUS and watchdog pings; SIGHUP
    reloads the config file. The CLI reaches it over the control socket.

    Results (at most one line a second per stream; every one with --json) and alerts
    go to stdout, alerts also to the durable alert log under state_dir.
    """
    from edgeinfer.app import Daemon  # noqa: PLC0415 -- keep other commands light
    from edgeinfer.config import load_config  # noqa: PLC0415
    from edgeinfer.service import Service  # noqa: PLC0415
    from edgeinfer.sinks.stdout import StdoutSink  # noqa: PLC0415

    cfg = load_config(config, overrides or [])
    _configure_logging(cfg.log_level, to_stderr=json_out)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info(
            "%s: draining and stopping", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sink = StdoutSink(json_lines=json_out, result_interval_s=0.0 if json_out else 1.0)
    daemon = Daemon(cfg, sinks=[sink], config_file=config, overrides=overrides or [])
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
        typer.echo(
            f"stream {name}: {s['frames_in']} frames, {s['inferred']} inferred, "
            f"{s['dropped']} dropped, {s['gated']} gated, {s['errors']} errors, "
            f"{s['alerts']} alerts{p50}"
        )
    for name, m in status["models"].items():
        fallback = "; ".join(f"{f['placement']}: {f['reason']}" for f in m["fallback"])
        typer.echo(
            f"model {name}: {m['placement']}"
            + (f" (skipped {fallback})" if fallback else "")
        )


def replay_command(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Device config (YAML).")
    ],
    input_path: Annotated[
        Path,
        typer.Option("--input", "-i", help="Recorded CSV time series or video file."),
    ],
    stream: Annotated[
        str | None,
        typer.Option("--stream", help="Which configured stream the file stands for."),
    ] = None,
    overrides: SetOption = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the configured stages and rules over a recorded file, as fast as possible.

    Alerts carry the file's own timestamps; what replay reports is what the daemon
    would have reported on the same data.
    """
    from edgeinfer.config import load_config  # noqa: PLC0415
    from edgeinfer.replay import replay_file  # noqa: PLC0415
    from edgeinfer.sinks.stdout import StdoutSink  # noqa: PLC0415

    cfg = load_config(config, overrides or [])
    _configure_logging("warning", to_stderr=True)
    sink = StdoutSink(json_lines=json_out, result_interval_s=None)
    summary = replay_file(cfg, input_path, stream, sink)
    if json_out:
        print_json({"kind": "summary", **summary})
    else:
        typer.echo(
            f"replayed {summary['samples']} samples of {input_path} as stream "
            f"{summary['stream']}: {summary['alerts']} alerts, {summary['skipped']} "
            f"rows skipped, {summary['samples_per_s']:.0f} samples/s"
        )
