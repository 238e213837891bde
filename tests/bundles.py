"""Signed model bundles for tests, built from the demo model of ``models/demo``.

key = fleet_key(tmp_path)               # (private key path, public key text)
make_bundle(tmp_path / "b", key.path, version="1.1.0")
make_bundle(..., edit=lambda m, d: m.update(latency_budget_ms=0.001))
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeinfer.updates.bundle import sign_bundle
from edgeinfer.updates.signing import generate_key

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo"
Edit = Callable[[dict[str, Any], Path], None]


@dataclass(frozen=True)
class Key:
    """A signing key on disk and its public text."""

    path: Path
    public: str


def fleet_key(folder: Path, name: str = "fleet.pem") -> Key:
    """A new Ed25519 signing key in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    return Key(path, generate_key(path))


def make_bundle(
    dest: Path, key: Path, version: str = "1.1.0", edit: Edit | None = None
) -> Path:
    """A signed bundle of the demo model at ``dest`` (no video); ``edit`` may change
    the manifest and the directory before signing."""
    dest.mkdir(parents=True)
    for name in ("conveyor_int8.tflite", "labels.txt"):
        shutil.copyfile(DEMO / name, dest / name)
    shutil.copytree(DEMO / "samples", dest / "samples")
    manifest = json.loads((DEMO / "manifest.json").read_text())
    manifest["version"] = version
    manifest["golden"] = manifest["golden"][:3]
    manifest.pop("metrics", None)
    if edit is not None:
        edit(manifest, dest)
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
    sign_bundle(dest, key)
    return dest


def device_config(
    folder: Path,
    public: str,
    *,
    extra: str = "",
    realtime: bool = True,
    loop: bool = False,
    probation_s: float = 300,
) -> Path:
    """A demo device config in ``folder`` trusting ``public``, state in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "device.yaml"
    path.write_text(
        f"""device: {{id: dev1}}
state_dir: {folder / "state"}
accelerators: [cpu]
models:
  demo:
    path: {DEMO / "conveyor_int8.tflite"}
    labels: {DEMO / "labels.txt"}
    version: "1.0.0"
    top_k: 3
    preprocess: {{interpolation: area}}
streams:
  - kind: camera
    name: line1
    source: {DEMO / "conveyor.mp4"}
    model: demo
    realtime: {str(realtime).lower()}
    loop: {str(loop).lower()}
rules:
  - {{name: defect, kind: label, label: defect, min_score: 0.6, frames: 3}}
updates:
  trusted_keys: [{public}]
  probation: {{duration_s: {probation_s}, min_frames: 10}}
{extra}"""
    )
    return path
