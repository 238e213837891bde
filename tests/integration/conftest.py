"""Fixtures of the integration tests: a Mosquitto broker of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mosquitto import Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A running broker on a free port (anonymous, persistent sessions)."""
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()
