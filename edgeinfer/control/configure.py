"""Commands on the config: get_config, set_config (a partial patch), reload.

A change is validated by the same models as the config file, then written to the
file atomically (the previous file is kept as ``<file>.previous``), then applied:
``log_level``, ``telemetry`` and ``rules`` take effect at once, and so do ``streams``
when the same streams keep their kinds and models (a changed stream's source is
rebuilt with its new settings); any other change (streams added or removed, models,
mqtt, device, state_dir, ...) is written and reported as needing a restart. On any
error nothing changes: not the file, not the daemon.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import Field

from edgeinfer.config import EdgeinferConfig, dump_config, load_config, validate_data
from edgeinfer.control.router import CommandArgs, CommandContext, CommandRouter, NoArgs
from edgeinfer.errors import CommandError

if TYPE_CHECKING:
    from edgeinfer.app import Daemon
    from edgeinfer.rules.engine import StreamRules

log = logging.getLogger(__name__)

LIVE_SECTIONS = ("log_level", "telemetry", "rules")
"""Sections applied to the running daemon; ``streams`` too when they are the same
streams with other settings; the others need a restart."""


class GetConfigArgs(CommandArgs):
    """Arguments of ``get_config``."""

    key: str = Field(
        default="",
        max_length=200,
        description="Dotted key, e.g. mqtt.port; empty: all.",
    )


class SetConfigArgs(CommandArgs):
    """Arguments of ``set_config``."""

    patch: dict[str, Any] = Field(
        description="JSON merge patch over the config file: mappings merge, lists "
        "and values replace, null removes a key (back to its default)."
    )


def get_config(ctx: CommandContext, args: GetConfigArgs) -> dict[str, Any]:
    """The running config (secrets masked), or one key of it."""
    data: Any = dump_config(ctx.daemon.config)
    if not args.key:
        return {"config": data}
    for part in args.key.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            raise CommandError(
                f"get_config: no key {args.key!r} in the config — ask for a key "
                "that get_config without arguments shows",
                code="not_found",
            )
    return {"key": args.key, "value": data}


def set_config(ctx: CommandContext, args: SetConfigArgs) -> dict[str, Any]:
    """Merge ``patch`` into the config file, validate, write, apply."""
    daemon = ctx.daemon
    path = daemon.config_file
    if path is not None:
        raw = _read_file(path)
        base_dir: Path | None = path.absolute().parent
    else:  # started without a file (embedded or tests): apply without persisting
        raw = daemon.config.model_dump()
        base_dir = None
    merged = merge_patch(raw, args.patch)
    if not isinstance(merged, dict):
        raise CommandError("set_config: the patch must be a JSON object")
    new = validate_data(merged, "set_config", daemon.overrides, base_dir)
    rules, live, restart = _plan(daemon, new)
    if path is not None:
        write_atomically(path, _to_yaml(merged))
    _apply(daemon, new, rules, live, restart)
    return {
        "applied": live,
        "restart_required": restart,
        "persisted": path is not None,
        "file": str(path) if path else None,
    }


def reload(ctx: CommandContext, _args: NoArgs) -> dict[str, Any]:
    """Read the config file again (with the start's --set overrides) and apply it."""
    daemon = ctx.daemon
    if daemon.config_file is None:
        raise CommandError(
            "reload: the daemon was started without a config file", code="unavailable"
        )
    new = load_config(daemon.config_file, daemon.overrides)
    rules, live, restart = _plan(daemon, new)
    _apply(daemon, new, rules, live, restart)
    return {
        "applied": live,
        "restart_required": restart,
        "file": str(daemon.config_file),
    }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch of ``patch`` onto ``target`` (neither is changed)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: temp file, fsync, rename, fsync the directory.

    The file keeps its permission bits; the old content stays in ``<file>.previous``.
    Raises ``CommandError`` (and leaves ``path`` as it was) when it cannot write.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        old = path.read_bytes()
        mode = stat.S_IMODE(path.stat().st_mode)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # O_CREAT's mode is filtered by the umask
        path.with_name(path.name + ".previous").write_bytes(old)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as err:
        with contextlib.suppress(OSError):  # keep the first error, not the cleanup's
            tmp.unlink(missing_ok=True)
        raise CommandError(
            f"set_config: cannot write {path}: {err.strerror or err} — nothing was "
            "changed; make the file and its directory writable by the daemon",
            code="failed",
        ) from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise CommandError(
            f"set_config: cannot read {path}: {err} — fix or restore the file",
            code="failed",
        ) from None
    return data if isinstance(data, dict) else {}


def _to_yaml(data: dict[str, Any]) -> str:
    header = (
        "# Written by edgeinfer set_config; the file before the change, with its\n"
        "# comments, is next to this one as <name>.previous.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _plan(
    daemon: Daemon, new: EdgeinferConfig
) -> tuple[dict[str, StreamRules] | None, list[str], list[str]]:
    """New rules (built before anything changes), live and restart sections."""
    running = daemon.config
    changed = [
        name
        for name in EdgeinferConfig.model_fields
        if getattr(running, name) != getattr(new, name)
    ]
    restart = [name for name in changed if name not in LIVE_SECTIONS]
    live = [name for name in changed if name in LIVE_SECTIONS]
    if "streams" in restart and _streams_replaceable(running, new):
        restart.remove("streams")
        live.append("streams")
    rules = None
    if "rules" in live:
        if {"streams", "models"} & set(restart):
            live.remove("rules")  # rules for streams that do not run yet
            restart.append("rules")
        else:
            rules = daemon.build_rules(new)  # a ConfigError here changes nothing
    return rules, live, sorted(restart)


def _streams_replaceable(running: EdgeinferConfig, new: EdgeinferConfig) -> bool:
    """True when ``new`` has the running streams, each of the same kind and model,
    only with other settings: each can be restarted in place."""
    before = {s.name: s for s in running.streams}
    after = {s.name: s for s in new.streams}
    return before.keys() == after.keys() and all(
        type(before[n]) is type(after[n])
        and getattr(before[n], "model", None) == getattr(after[n], "model", None)
        for n in before
    )


def _apply(
    daemon: Daemon,
    new: EdgeinferConfig,
    rules: dict[str, StreamRules] | None,
    live: list[str],
    restart: list[str],
) -> None:
    effective = daemon.config.model_copy(
        update={name: getattr(new, name) for name in live}
    )
    if "log_level" in live:
        logging.getLogger().setLevel(new.log_level.upper())
    before = {s.name: s for s in daemon.config.streams}
    daemon.apply_config(effective, rules, restart)
    if "streams" in live:  # after the rules: the new source feeds the new rules
        for stream in new.streams:
            if stream != before[stream.name]:
                daemon.replace_stream(stream)
    log.info(
        "config changed: applied %s; needs a restart: %s",
        ", ".join(live) or "nothing",
        ", ".join(restart) or "nothing",
    )


def register(router: CommandRouter) -> None:
    """Add this module's commands to ``router``."""
    router.add("get_config", GetConfigArgs, get_config)
    router.add("set_config", SetConfigArgs, set_config)
    router.add("reload", NoArgs, reload)
