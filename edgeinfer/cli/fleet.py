"""``edgeinfer fleet``: the console for the people who run the fleet.

List the devices seen, send a command to a device or a group and print the replies,
push a signed bundle with a staged rollout, watch telemetry and alerts. Keys and
signing are under ``edgeinfer models keygen|sign``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from edgeinfer.cli._output import fail, print_json

app = typer.Typer(
    help="Fleet console: devices, commands, pushes.", no_args_is_help=True
)

HostOpt = Annotated[str, typer.Option("--host", help="MQTT broker host.")]
PortOpt = Annotated[int, typer.Option("--port", help="MQTT broker port.")]
UserOpt = Annotated[str | None, typer.Option("--username", help="Broker user.")]
PassOpt = Annotated[
    str | None,
    typer.Option("--password", envvar="EDGEINFER_MQTT_PASSWORD", help="Password."),
]
CaOpt = Annotated[Path | None, typer.Option("--ca-file", help="CA for TLS.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]


def _console(
    host: str, port: int, user: str | None, pw: str | None, ca: Path | None
) -> Any:
    from edgeinfer.mqtt.console import FleetConsole  # noqa: PLC0415 -- paho on demand

    return FleetConsole(host, port, username=user, password=pw, ca_file=ca)


@app.command("devices")
def devices_command(
    host: HostOpt = "localhost",
    port: PortOpt = 1883,
    username: UserOpt = None,
    password: PassOpt = None,
    ca_file: CaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Devices seen on the broker (retained status), online or not."""
    console = _console(host, port, username, password, ca_file)
    try:
        seen = console.devices()
    finally:
        console.close()
    if json_out:
        print_json({"devices": seen})
        return
    for device, s in sorted(seen.items()):
        typer.echo(
            f"{device:<16} {s.get('state', '?'):<8} {s.get('model') or '-'} "
            f"{s.get('model_version', '')}  groups: {','.join(s.get('groups', []))}"
        )


@app.command("send")
def send_command(
    target: Annotated[str, typer.Argument(help="Device id, or group:<name>.")],
    name: Annotated[str, typer.Argument(help="Command, e.g. ping, status.")],
    args: Annotated[str, typer.Argument(help="JSON arguments.")] = "{}",
    host: HostOpt = "localhost",
    port: PortOpt = 1883,
    username: UserOpt = None,
    password: PassOpt = None,
    ca_file: CaOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds.")] = 10.0,
) -> None:
    """Send a command and print each device's reply (one JSON line per device)."""
    try:
        body = json.loads(args)
    except ValueError as err:
        fail(f"the arguments are not JSON: {err}", 2)
    console = _console(host, port, username, password, ca_file)
    try:
        if target.startswith("group:"):
            console.devices(0.5)  # learn the group's members
        replies = console.command(target, name, body, timeout)
    finally:
        console.close()
    for reply in replies.values():
        print_json(reply)
    if not replies:
        fail(f"no reply from {target} within {timeout} s — is it online?")
    if not all(r.get("ok") for r in replies.values()):
        raise typer.Exit(1)


@app.command("push")
def push_command(
    bundle: Annotated[Path, typer.Argument(help="Signed bundle directory.")],
    targets: Annotated[list[str], typer.Argument(help="Device ids or group:<g>.")],
    canary: Annotated[
        list[str] | None,
        typer.Option("--canary", help="Devices updated first (repeatable)."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Where the bundle directory is served; default: "
            "the files go over MQTT.",
        ),
    ] = None,
    host: HostOpt = "localhost",
    port: PortOpt = 1883,
    username: UserOpt = None,
    password: PassOpt = None,
    ca_file: CaOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds per device, probation included.")
    ] = 600.0,
    json_out: JsonOpt = False,
) -> None:
    """Push BUNDLE: the canaries first, the rest only once they pass probation."""
    console = _console(host, port, username, password, ca_file)
    try:
        console.devices(0.5)
        devices = sorted({d for t in targets for d in console.members(t)})
        canaries = canary if canary is not None else devices[:1]

        def show(device: str, outcome: dict[str, Any]) -> None:
            if not json_out:
                typer.echo(
                    f"{device}: {outcome.get('state')} {outcome.get('reason', '')}"
                )

        result = console.rollout(
            bundle, devices, canaries=canaries, url=url, timeout=timeout, progress=show
        )
    finally:
        console.close()
    if json_out:
        print_json(result.to_json())
    elif result.stopped:
        typer.echo(f"stopped: {result.stopped}")
    if not result.ok:
        raise typer.Exit(1)


@app.command("watch")
def watch_command(
    targets: Annotated[list[str], typer.Argument(help="Device ids, or + for all.")],
    host: HostOpt = "localhost",
    port: PortOpt = 1883,
    username: UserOpt = None,
    password: PassOpt = None,
    ca_file: CaOpt = None,
) -> None:
    """Print telemetry and alerts of the devices as they arrive (Ctrl-C stops)."""
    import threading  # noqa: PLC0415

    console = _console(host, port, username, password, ca_file)
    console.watch(lambda topic, body: print_json({"topic": topic, **body}), targets)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        console.close()
