"""``edgeinfer run``'s own command line: parsed without the CLI framework, so the
long-lived daemon process never loads it; errors as for every other command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CliRunner

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "device-configs" / "demo.yaml"


def test_the_daemon_process_never_imports_the_cli_framework(tmp_path: Path) -> None:
    # -X importtime lists on stderr every module the process imported, in full.
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "edgeinfer",
            "run",
            "--config",
            str(CONFIG),
            "--set",
            "streams.0.realtime=false",
            "--set",
            f"state_dir={tmp_path}",
            "--set",
            "mqtt.enabled=false",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ALERT critical line1/defect" in proc.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"edgeinfer", "cv2", "pydantic", "sqlite3"} <= imported
    assert not imported & {"typer", "click", "rich", "shellingham"}


def test_run_help_and_usage_errors(run_cli: CliRunner) -> None:
    listed = run_cli("--help")
    assert listed.returncode == 0
    assert "run " in listed.stdout
    assert "replay " in listed.stdout
    help_ = run_cli("run", "--help")
    assert help_.returncode == 0
    assert "--config" in help_.stdout
    assert "--set KEY=VALUE" in help_.stdout
    bad = run_cli("run", "--no-such-option")
    assert bad.returncode == 2
    assert "unrecognized arguments: --no-such-option" in bad.stderr


def test_a_missing_config_is_one_line_and_exit_1(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    missing = tmp_path / "nowhere.yaml"
    proc = run_cli("run", "--config", missing)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"error: {missing}: config file not found — fix: check the path "
        "(example profiles are in device-configs/)"
    ]
    debug = run_cli("--debug", "run", "-c", missing)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert "ConfigError" in debug.stderr


def test_an_invalid_override_names_the_key(tmp_path: Path, run_cli: CliRunner) -> None:
    proc = run_cli(
        "run", "--config", CONFIG, "--set", f"state_dir={tmp_path}", "--set", "bogus=1"
    )
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("error: ")
    assert "bogus" in proc.stderr
