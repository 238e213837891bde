"""``edgeinfer status``: what the running daemon is doing, from its control socket.

Two samples one second apart give the frame rates; the daemon itself is not
disturbed (the same ``status`` command the fleet console sends).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from edgeinfer.cli._common import SetOption, is_terminal
from edgeinfer.cli._daemon import (
    ConfigOption,
    JsonOption,
    SocketOption,
    control_socket,
)
from edgeinfer.cli._output import print_json
from edgeinfer.cli.daemon import DEFAULT_CONFIG
from edgeinfer.service.client import call

RATE_WINDOW_S = 1.0


def status_command(
    config: ConfigOption = DEFAULT_CONFIG,
    socket: SocketOption = None,
    overrides: SetOption = None,
    json_out: JsonOption = False,
    alerts: Annotated[
        int, typer.Option("--alerts", min=0, help="Last alerts to show.")
    ] = 5,
) -> None:
    """Streams and their health, frames/s, latency, accelerators, model versions,
    broker connection, outbox and the last alerts of the running daemon."""
    path = control_socket(config, socket, overrides)
    report = collect_status(path, alerts)
    if json_out:
        print_json(report)
    elif is_terminal():
        _print_tables(report)
    else:
        for line in plain_lines(report):
            typer.echo(line)


def collect_status(path: Path, alerts: int = 5) -> dict[str, Any]:
    """The daemon's status with ``fps`` per stream and its newest ``alerts``."""
    first = call(path, "status")
    t0 = time.monotonic()
    time.sleep(RATE_WINDOW_S)
    status: dict[str, Any] = call(path, "status")
    dt = time.monotonic() - t0
    for name, s in status["streams"].items():
        before = first["streams"].get(name, s)
        s["fps"] = round((s["frames_in"] - before["frames_in"]) / dt, 2)
        s["inferred_fps"] = round((s["inferred"] - before["inferred"]) / dt, 2)
    status["last_alerts"] = (
        call(path, "alerts", {"limit": alerts})["alerts"] if alerts else []
    )
    status["socket"] = str(path)
    return status


def _latency(s: dict[str, Any]) -> str:
    e2e = s["latency_ms"].get("end_to_end", {})
    if not e2e.get("p50"):
        return "-"
    return f"{e2e['p50']:.1f}/{e2e['p95']:.1f}"


def _broker(mqtt: dict[str, Any] | None) -> str:
    if mqtt is None:
        return "broker: not configured (alerts stay in the local alert log)"
    line = f"broker {mqtt['broker']}: {mqtt['state']}"
    if mqtt.get("error"):
        line += f" ({mqtt['error']})"
    return line + f"; outbox {mqtt['outbox']['pending']} unsent"


def _alert_line(a: dict[str, Any]) -> str:
    values = " ".join(f"{k}={v}" for k, v in a.get("values", {}).items())
    return f"{a['timestamp']} {a['severity']} {a['stream']}/{a['rule']} {values}"


def plain_lines(report: dict[str, Any]) -> list[str]:
    """The report as plain lines, for pipes and logs."""
    lines = [
        f"device {report['device']} (edgeinfer {report['version']}), "
        f"up {report['uptime_s']:.0f} s"
    ]
    for name, s in report["streams"].items():
        reason = f" ({s['reason']})" if s["reason"] else ""
        lines.append(
            f"stream {name}: {s['health']}{reason}, {s['fps']:.1f} fps "
            f"({s['inferred_fps']:.1f} inferred), {s['dropped']} dropped, "
            f"{s['errors']} errors, {s['alerts']} alerts, latency p50/p95 "
            f"{_latency(s)} ms"
        )
    for name, m in report["models"].items():
        fallback = "; ".join(f"{f['placement']}: {f['reason']}" for f in m["fallback"])
        lines.append(
            f"model {name} {m['version'] or '(no version)'}: {m['placement']}"
            + (f" (fell back, skipped {fallback})" if fallback else "")
        )
    lines.append(_broker(report.get("mqtt")))
    if report.get("restart_required"):
        changed = ", ".join(report["restart_required"])
        lines.append(f"restart required for: {changed}")
    lines += [f"alert {_alert_line(a)}" for a in report["last_alerts"]]
    return lines


def _print_tables(report: dict[str, Any]) -> None:
    from rich.console import Console  # noqa: PLC0415 -- only on a terminal
    from rich.table import Table  # noqa: PLC0415

    console = Console()
    console.print(
        f"[bold]{report['device']}[/] edgeinfer {report['version']}, "
        f"up {report['uptime_s']:.0f} s"
    )
    colour = {"ok": "green", "degraded": "yellow", "offline": "red"}
    streams = Table(title="streams")
    for col in ("stream", "health", "fps", "inferred/s", "dropped", "errors"):
        streams.add_column(col)
    streams.add_column("alerts")
    streams.add_column("p50/p95 ms")
    for name, s in report["streams"].items():
        health = f"[{colour.get(s['health'], 'white')}]{s['health']}[/]"
        if s["reason"]:
            health += f"\n[dim]{s['reason']}[/]"
        streams.add_row(
            name,
            health,
            f"{s['fps']:.1f}",
            f"{s['inferred_fps']:.1f}",
            str(s["dropped"]),
            str(s["errors"]),
            str(s["alerts"]),
            _latency(s),
        )
    console.print(streams)
    models = Table(title="models")
    for col in ("model", "version", "accelerator", "fallback"):
        models.add_column(col)
    for name, m in report["models"].items():
        fallback = "\n".join(f"{f['placement']}: {f['reason']}" for f in m["fallback"])
        models.add_row(name, m["version"], m["placement"], fallback or "-")
    console.print(models)
    console.print(_broker(report.get("mqtt")))
    for a in report["last_alerts"]:
        console.print(f"[red]alert[/] {_alert_line(a)}")
