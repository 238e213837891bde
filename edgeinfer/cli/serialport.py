"""``edgeinfer serial monitor``: a sensor's readings, parsed live, as the daemon
would parse them (same reader, same line formats)."""

from __future__ import annotations

import queue
import sys
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from edgeinfer.cli._output import print_json

if TYPE_CHECKING:
    from edgeinfer.sources import Reading

app = typer.Typer(help="Watch a serial sensor.", no_args_is_help=True)


@app.command("monitor")
def monitor_command(
    port: Annotated[
        str,
        typer.Option(
            "--port", "-p", help="/dev/ttyUSB0, /dev/serial/by-id/..., or a URL."
        ),
    ],
    baud: Annotated[int, typer.Option("--baud", "-b", min=1, help="Bit/s.")] = 115200,
    line_format: Annotated[
        Literal["auto", "csv", "json", "kv"],
        typer.Option("--format", "-f", help="Line payload."),
    ] = "auto",
    delimiter: Annotated[
        str, typer.Option(help="Line delimiter, escapes allowed (\\r is stripped).")
    ] = "\\n",
    count: Annotated[
        int,
        typer.Option("--count", "-n", min=0, help="Stop after N readings; 0: never."),
    ] = 0,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per reading.")
    ] = False,
) -> None:
    """Print each parsed reading until Ctrl-C (or --count readings)."""
    from edgeinfer.sources import LineSpec, SerialSource  # noqa: PLC0415

    readings: queue.Queue[Reading] = queue.Queue()
    source = SerialSource(
        "monitor",
        port,
        readings.put,
        baud=baud,
        spec=LineSpec(format=line_format),
        delimiter=delimiter.encode().decode("unicode_escape").encode(),
    )
    source.start()
    seen, malformed, health = 0, 0, ""
    try:
        while count == 0 or seen < count:
            try:
                reading = readings.get(timeout=0.2)
            except queue.Empty:
                pass
            else:
                seen += 1
                _show(reading, json_out)
            state = source.health
            now_health = f"{state.health.value}: {state.reason}"
            if now_health != health:
                health = now_health
                sys.stderr.write(f"{port}: {now_health}\n")
            if source.stats.malformed > malformed:
                sys.stderr.write(
                    f"skipped {source.stats.malformed - malformed} line(s) that did "
                    "not parse (wrong --baud or --format?)\n"
                )
                malformed = source.stats.malformed
    except KeyboardInterrupt:
        pass
    finally:
        source.stop()
    sys.stderr.write(f"{seen} readings, {source.stats.malformed} malformed lines\n")


def _show(reading: Reading, json_out: bool) -> None:
    from edgeinfer.rules.alert import iso_time  # noqa: PLC0415

    stamp = iso_time(reading.timestamp)
    if json_out:
        print_json({"timestamp": stamp, "seq": reading.seq, "values": reading.values})
    else:
        text = " ".join(f"{k}={v:g}" for k, v in reading.values.items())
        typer.echo(f"{stamp}  {text}")
