"""``edgeinfer alerts``: read the durable local alert log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from edgeinfer.cli._common import SetOption
from edgeinfer.cli._output import print_json
from edgeinfer.cli.daemon import DEFAULT_CONFIG
from edgeinfer.errors import ConfigError

app = typer.Typer(help="Read the local alert log.", no_args_is_help=True)


def _line(body: dict[str, Any]) -> str:
    values = " ".join(f"{k}={v}" for k, v in body["values"].items())
    return (
        f"{body['timestamp']}  {body['severity']:<8} {body['stream']}/{body['rule']}  "
        f"{values}  [{body['id'][:8]}]"
    )


@app.command("tail")
def tail_command(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Device config (YAML).")
    ] = DEFAULT_CONFIG,
    overrides: SetOption = None,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="How many.")] = 20,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new alerts.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object a line.")
    ] = False,
) -> None:
    """Print the newest alerts of the log under the config's state_dir."""
    from edgeinfer.config import load_config  # noqa: PLC0415 -- keep other commands light
    from edgeinfer.sinks.alertlog import AlertLog  # noqa: PLC0415

    cfg = load_config(config, overrides or [])
    path = cfg.state_dir / "alerts.db"
    if not path.exists():
        raise ConfigError(
            f"no alert log at {path} — the daemon has not run with this state_dir yet"
        )
    log = AlertLog(path)
    after = 0
    try:
        rows = log.tail(lines)
        while True:
            for seq, body in rows:
                if json_out:
                    print_json(body)
                else:
                    typer.echo(_line(body))
                after = seq
            if not follow:
                return
            time.sleep(0.5)
            rows = log.tail(10_000, after=after)
    except KeyboardInterrupt:
        return
    finally:
        log.close()
