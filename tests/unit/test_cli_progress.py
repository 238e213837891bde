"""The progress bar wrapper of long CLI work: the work's result or its error, and a
bar on a terminal."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeinfer.cli._common import with_progress
from edgeinfer.errors import ConfigError
from tests.conftest import ROOT


def test_with_progress_returns_the_result_of_the_work() -> None:
    start = time.monotonic()
    assert with_progress(lambda: time.sleep(0.3) or 42, 0.3, "waiting") == 42
    assert time.monotonic() - start >= 0.3


def test_with_progress_raises_the_error_of_the_work() -> None:
    def fail() -> None:
        raise ConfigError("broken — fix it")

    with pytest.raises(ConfigError, match="broken"):
        with_progress(fail, 1.0, "failing")


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1)")
def test_bench_on_a_terminal_shows_a_bar_then_the_figures(tmp_path: Path) -> None:
    model = ROOT / "models" / "demo" / "conveyor_int8.tflite"
    edgeinfer = Path(sys.executable).parent / "edgeinfer"
    if not edgeinfer.exists():
        pytest.skip("the edgeinfer script is not installed beside this Python")
    command = f"{edgeinfer} bench --model {model} --duration 1.5"
    proc = subprocess.run(  # script(1) gives the command a pseudo-terminal
        ["script", "-qec", command, str(tmp_path / "typescript")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"TERM": "xterm", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "benchmarking conveyor_int8.tflite" in proc.stdout  # the bar's label
    assert "inferences/s" in proc.stdout
