"""``edgeinfer models``: the model store on this device, and signing bundles.

On the device: list, verify, install (validated here), activate, rollback. The
daemon reads the store when it starts; a running daemon is updated over MQTT
(``model_update``), which also hot swaps. For the fleet: keygen, sign.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from edgeinfer.cli._common import SetOption
from edgeinfer.cli._output import print_json
from edgeinfer.cli.daemon import DEFAULT_CONFIG
from edgeinfer.errors import ConfigError

app = typer.Typer(
    help="Signed model bundles and the model store.", no_args_is_help=True
)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="Device config (YAML).")
]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model name in the config (default: first)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]


def _setup(config: Path, overrides: list[str] | None, model: str | None) -> Any:
    from edgeinfer.config import load_config  # noqa: PLC0415 -- keep the CLI light

    cfg = load_config(config, overrides or [])
    if not cfg.models:
        raise ConfigError(f"{config} defines no models — add one under models:")
    name = model or next(iter(cfg.models))
    if name not in cfg.models:
        raise ConfigError(
            f"no model named {name!r} in {config} — models: {', '.join(cfg.models)}"
        )
    return cfg, name


def _store(cfg: Any, name: str) -> Any:
    from edgeinfer.updates.store import ModelStore  # noqa: PLC0415

    u = cfg.updates
    return ModelStore(
        cfg.state_dir, name, u.trusted_keys, keep=u.keep, max_bytes=u.max_bytes
    )


def _daemon_socket(cfg: Any) -> Path | None:
    """The control socket of a daemon running with this config, or None."""
    from edgeinfer.errors import ServiceError  # noqa: PLC0415
    from edgeinfer.service.client import request  # noqa: PLC0415

    path: Path = cfg.control_socket
    if not path.exists():
        return None
    try:
        request(path, "ping", timeout=5)
    except ServiceError:
        return None  # a socket left behind: no daemon answers on it
    return path


def _out(json_out: bool, body: dict[str, Any], line: str) -> None:
    if json_out:
        print_json(body)
    else:
        typer.echo(line)


@app.command("list")
def list_command(
    config: ConfigOpt = DEFAULT_CONFIG,
    overrides: SetOption = None,
    json_out: JsonOpt = False,
) -> None:
    """Installed versions of every model, the active one marked."""
    cfg, _ = _setup(config, overrides, None)
    rows = []
    for name in cfg.models:
        for row in _store(cfg, name).installed():
            rows.append({"model": name, **row})
    if json_out:
        print_json({"versions": rows})
        return
    if not rows:
        typer.echo("no bundles installed: every model runs its configured file")
    for r in rows:
        typer.echo(f"{r['model']:<12} {r['version']:<16} {r['name']:<20} {r['role']}")


@app.command("verify")
def verify_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory or .tar.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    overrides: SetOption = None,
    model: ModelOpt = None,
    validate: Annotated[
        bool, typer.Option("--validate", help="Also run the golden inputs here.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Check BUNDLE: signature, files, archive safety, compatibility (and golden)."""
    from edgeinfer.updates.archive import extract_tar  # noqa: PLC0415
    from edgeinfer.updates.bundle import verify_bundle  # noqa: PLC0415
    from edgeinfer.updates.compat import bundle_spec, check_compatible  # noqa: PLC0415
    from edgeinfer.updates.validate import (  # noqa: PLC0415
        load_candidate,
        validate_model,
    )

    cfg, name = _setup(config, overrides, model)
    with tempfile.TemporaryDirectory() as tmp:
        root = bundle
        if not bundle.is_dir():
            root = Path(tmp)
            extract_tar(bundle, root, cfg.updates.max_bytes)
        b = verify_bundle(root, cfg.updates.trusted_keys)
        check_compatible(cfg, name, b)
        body: dict[str, Any] = {
            "ok": True,
            "name": b.manifest.name,
            "version": b.version,
            "key_id": b.key_id,
            "files": len(b.manifest.files),
        }
        if validate:
            m = load_candidate(bundle_spec(cfg, name, b), b)
            try:
                body["validation"] = validate_model(
                    m, b, cfg.updates.validate_runs
                ).to_json()
            finally:
                m.close()
    _out(
        json_out,
        body,
        f"ok: {b.manifest.name} {b.version} signed by {b.key_id}, "
        f"{len(b.manifest.files)} files verified",
    )


@app.command("install")
def install_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory or .tar.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    overrides: SetOption = None,
    model: ModelOpt = None,
    activate: Annotated[
        bool, typer.Option("--activate", help="Make it active once validated.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Install BUNDLE into the store after verifying and validating it here."""
    from edgeinfer.errors import UpdateError  # noqa: PLC0415
    from edgeinfer.updates.compat import bundle_spec, check_compatible  # noqa: PLC0415
    from edgeinfer.updates.validate import (  # noqa: PLC0415
        load_candidate,
        validate_model,
    )

    cfg, name = _setup(config, overrides, model)
    store = _store(cfg, name)
    b = store.install(bundle)
    try:
        check_compatible(cfg, name, b)
        m = load_candidate(bundle_spec(cfg, name, b), b)
        try:
            report = validate_model(m, b, cfg.updates.validate_runs)
        finally:
            m.close()
    except UpdateError:
        if b.version != store.state().active and b.version not in store.state().history:
            store.remove(b.version)
        raise
    if activate:
        store.activate(b.version)
    body = {
        "ok": True,
        "model": name,
        "version": b.version,
        "active": activate,
        "validation": report.to_json(),
    }
    _out(
        json_out,
        body,
        f"installed {name} {b.version}"
        + (" (active; restart the daemon to use it)" if activate else ""),
    )


@app.command("activate")
def activate_command(
    version: Annotated[str, typer.Argument(help="An installed version.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    overrides: SetOption = None,
    model: ModelOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make an installed VERSION active (used from the next daemon start)."""
    cfg, name = _setup(config, overrides, model)
    store = _store(cfg, name)
    store.bundle(version)  # verified again before it is trusted
    state = store.activate(version)
    running = _daemon_socket(cfg) is not None
    _out(
        json_out,
        {
            "ok": True,
            "model": name,
            "active": state.active,
            "history": state.history,
            "restart_required": running,
        },
        f"{name}: active {state.active}"
        + (" (the running daemon uses it after a restart)" if running else ""),
    )


@app.command("rollback")
def rollback_command(
    config: ConfigOpt = DEFAULT_CONFIG,
    overrides: SetOption = None,
    model: ModelOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Go back to the previous version (or the configured model file); a running
    daemon switches at once, between two frames."""
    cfg, name = _setup(config, overrides, model)
    socket = _daemon_socket(cfg)
    if socket is not None:
        from edgeinfer.service.client import call  # noqa: PLC0415

        reason = "rolled back with edgeinfer models rollback"
        result = call(socket, "model_rollback", {"model": name, "reason": reason})
        _out(
            json_out,
            {"ok": True, "model": name, "live": True, **result},
            f"{name}: the running daemon rolled back to "
            f"{result.get('version') or 'the configured model file'}",
        )
        return
    state = _store(cfg, name).rollback()
    _out(
        json_out,
        {"ok": True, "model": name, "active": state.active, "history": state.history},
        f"{name}: active {state.active or 'the configured model file'}",
    )


@app.command("keygen")
def keygen_command(
    out: Annotated[Path, typer.Argument(help="Private key file to create (PEM).")],
    json_out: JsonOpt = False,
) -> None:
    """Create a signing key; print the public key for updates.trusted_keys."""
    from edgeinfer.updates.signing import generate_key, key_id  # noqa: PLC0415

    if out.exists():
        raise ConfigError(f"{out} exists — choose another file; keys are not replaced")
    public = generate_key(out)
    import base64  # noqa: PLC0415

    kid = key_id(base64.b64decode(public))
    _out(
        json_out,
        {"ok": True, "private_key": str(out), "public_key": public, "key_id": kid},
        f"private key: {out} (keep it secret)\nkey id: {kid}\n"
        f"add to the device config:\nupdates:\n  trusted_keys: [{public}]",
    )


@app.command("sign")
def sign_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory.")],
    key: Annotated[Path, typer.Option("--key", "-k", help="Private key (PEM).")],
    tar: Annotated[
        Path | None, typer.Option("--tar", help="Also pack the signed bundle here.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """List BUNDLE's files with sizes and SHA-256 in its manifest, and sign it."""
    from edgeinfer.updates.bundle import pack_bundle, sign_bundle  # noqa: PLC0415

    manifest = sign_bundle(bundle, key)
    if tar is not None:
        pack_bundle(bundle, tar)
    _out(
        json_out,
        {
            "ok": True,
            "name": manifest.name,
            "version": manifest.version,
            "files": len(manifest.files),
            "tar": str(tar) if tar else None,
        },
        f"signed {manifest.name} {manifest.version} ({len(manifest.files)} files)"
        + (f", packed to {tar}" if tar else ""),
    )
