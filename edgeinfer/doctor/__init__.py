"""``edgeinfer doctor``: every check a technician would do first, each with a fix.

    results = run_doctor(Path("/etc/edgeinfer/config.yaml"))
    all(r.ok for r in results)

The config is validated; each model loads on its accelerator and runs once; each
camera gives a frame and each serial port opens (and parses a line if one comes);
the broker accepts the configured TLS and credentials; the clock, disk, groups and
device permissions are sane. A running daemon holds the cameras, ports and
accelerators, so while one answers on the control socket its own self-test and
stream health stand in for opening them again.

    result.py   CheckResult: pass, warn, fail or skip, with a fix
    streams.py  cameras and serial ports, opened directly
    system.py   clock, state_dir, disk, groups, device nodes
    daemon.py   the running daemon's self-test, over the control socket
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

import edgeinfer
from edgeinfer.config import EdgeinferConfig, load_config
from edgeinfer.config.streams import CameraStreamConfig, SerialStreamConfig
from edgeinfer.doctor.daemon import daemon_checks
from edgeinfer.doctor.result import (
    CheckResult,
    failed,
    passed,
    skipped,
    timed,
    warned,
)
from edgeinfer.doctor.streams import check_camera, check_serial
from edgeinfer.doctor.system import (
    check_clock,
    check_devices,
    check_disk,
    check_groups,
    check_state_dir,
)
from edgeinfer.errors import ConfigError, EdgeinferError

DEFAULT_STATE_DIR = Path("/var/lib/edgeinfer")

__all__ = ["CheckResult", "run_doctor"]


def run_doctor(
    config_path: Path,
    overrides: Sequence[str] = (),
    socket: Path | None = None,
    broker_timeout_s: float | None = None,
) -> list[CheckResult]:
    """Run every check; a failed one never stops the others."""
    cfg, config_result = _check_config(config_path, overrides)
    results = [config_result]
    state_dir = cfg.state_dir if cfg else DEFAULT_STATE_DIR
    if socket is None and cfg is not None:
        socket = cfg.control_socket
    running = daemon_checks(socket) if socket is not None else None
    if running is not None:
        results += running
    elif socket is not None:
        results.append(
            warned(
                "daemon",
                f"no daemon answers on {socket}",
                "start it: systemctl start edgeinfer (journalctl -u edgeinfer says "
                "why it stopped)",
            )
        )
    if cfg is not None:
        if running is None:
            results += _device_checks(cfg)
        results.append(timed("broker", partial(_check_broker, cfg, broker_timeout_s)))
    references = [config_path, Path(edgeinfer.__file__)]
    references += [state_dir / "alerts.db", state_dir / "outbox.db"]
    results += [
        timed("clock", partial(check_clock, references)),
        timed("state_dir", partial(check_state_dir, state_dir)),
        timed("disk", partial(check_disk, state_dir)),
        timed("groups", check_groups),
        *check_devices(),
    ]
    return results


def _check_config(
    path: Path, overrides: Sequence[str]
) -> tuple[EdgeinferConfig | None, CheckResult]:
    try:
        cfg = load_config(path, overrides)
    except ConfigError as err:
        detail, _, fix = str(err).partition(" — fix: ")
        return None, failed(
            "config",
            detail,
            fix or f"edit {path}; edgeinfer config check {path} lists every problem",
        )
    return cfg, passed(
        "config",
        f"{path} is valid: {len(cfg.streams)} streams, {len(cfg.models)} models",
    )


def _device_checks(cfg: EdgeinferConfig) -> list[CheckResult]:
    """Models, cameras and serial ports, opened here (no daemon holds them)."""
    results = [
        timed(f"model:{name}", partial(_check_model, cfg, name)) for name in cfg.models
    ]
    for stream in cfg.streams:
        if isinstance(stream, CameraStreamConfig):
            check = partial(check_camera, stream)
            results.append(timed(f"camera:{stream.name}", check))
        elif isinstance(stream, SerialStreamConfig):
            results.append(
                timed(f"serial:{stream.name}", partial(check_serial, stream))
            )
    return results


def _check_model(cfg: EdgeinferConfig, name: str) -> CheckResult:
    from edgeinfer.loading import model_spec  # noqa: PLC0415 -- imports runtimes
    from edgeinfer.model import Model  # noqa: PLC0415

    check = f"model:{name}"
    try:
        model = Model.load(model_spec(cfg, name))
    except EdgeinferError as err:
        detail, _, fix = str(err).partition(" — ")
        return failed(
            check,
            detail,
            fix or f"check models.{name}.path; edgeinfer devices shows accelerators",
        )
    try:
        placement = str(model.backend.placement)
        if model.spec.task != "raw" and len(model.backend.inputs) == 1:
            model.predict(np.full((240, 320, 3), 128, np.uint8))
        skips = "; ".join(f"{s.placement}: {s.reason}" for s in model.selection.skipped)
    finally:
        model.close()
    if skips:
        return warned(
            check,
            f"runs on {placement}, not its first choice ({skips})",
            "edgeinfer devices says why the preferred accelerator is unusable",
        )
    return passed(check, f"loads and runs on {placement}")


def _check_broker(cfg: EdgeinferConfig, timeout_s: float | None) -> CheckResult:
    if not cfg.mqtt.configured:
        return skipped("broker", "no mqtt.host: alerts stay in the local alert log")
    from edgeinfer.mqtt.probe import probe_broker  # noqa: PLC0415 -- imports paho

    ok, detail = probe_broker(
        cfg.mqtt,
        client_id=f"edgeinfer-{cfg.device.id}-doctor",
        will_topic=f"{cfg.mqtt_prefix}/doctor",
        timeout=timeout_s,
    )
    if ok:
        return passed("broker", detail)
    what, _, fix = detail.partition(" — ")
    return failed("broker", what, fix or "check mqtt.host, mqtt.port and mqtt.tls")
