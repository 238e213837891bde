"""Factories for the unit tests: config files written to a temporary directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

ConfigWriter = Callable[[str], Path]


@pytest.fixture
def write_config(tmp_path: Path) -> ConfigWriter:
    """Write YAML text to ``<tmp>/conf/edgeinfer.yaml`` and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "conf" / "edgeinfer.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write
