"""Fixtures shared by every test folder: where the assets are, and running the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("EDGEINFER_ASSETS", ROOT.parent / "shared" / "assets"))

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def assets() -> Path:
    """The third-party test assets (models, images, video, sensor data)."""
    if not (ASSETS / "models").is_dir():
        pytest.skip(f"test assets not found at {ASSETS} (set EDGEINFER_ASSETS)")
    return ASSETS


@pytest.fixture(scope="session")
def models(assets: Path) -> Path:
    """The asset models folder."""
    return assets / "models"


@pytest.fixture(scope="session")
def images(assets: Path) -> Path:
    """The asset images folder."""
    return assets / "images"


@pytest.fixture
def run_cli(tmp_path: Path) -> CliRunner:
    """Run ``python -m edgeinfer ARGS`` in a subprocess and return the result."""

    def run(
        *args: str | Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edgeinfer", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
            env={**os.environ, "HOME": str(tmp_path)},
        )

    return run
