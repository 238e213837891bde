"""The bundle manifest: what a model bundle holds and how to check it on a device.

A superset of what ``tools/make_demo.py`` writes: unknown keys (build notes, metrics)
are kept and signed with the rest, so a producer can add information freely.

    {"name": "conveyor-qc", "version": "1.1.0", "task": "classification",
     "model": "conveyor_int8.tflite", "labels": "labels.txt",
     "input": {"layout": "NHWC", "size": [64, 64], "colour": "RGB", "dtype": "int8"},
     "variants": [{"accelerator": "edgetpu", "model": "conveyor_int8_edgetpu.tflite"}],
     "golden": [{"input": "samples/a.png", "expected_scores": [0.99, 0.0, 0.0]}],
     "golden_tolerance": 0.15, "latency_budget_ms": 25.0,
     "drift_reference": {"score": [0.97, 0.88, ...], "input": [112.5, ...]},
     "files": [{"path": "conveyor_int8.tflite", "sha256": "...", "size": 29272}]}

``drift_reference`` holds samples of the statistics drift rules watch on a camera
stream (``score``: the model's top score; ``input``: a frame's mean brightness), as
measured on representative frames when the bundle was made: a drift rule without a
``reference`` of its own compares the live values with these.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgeinfer.errors import UpdateError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


def check_relative(path: str) -> str:
    """``path`` if it is a plain relative POSIX path inside the bundle."""
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts or "\\" in path:
        raise ValueError(f"{path!r} is not a relative path inside the bundle")
    return path


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FileEntry(BaseModel):
    """One file of the bundle with its size (bytes) and SHA-256 (hex)."""

    model_config = ConfigDict(extra="forbid")

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        return check_relative(value)


class InputSpec(_Open):
    """What the model takes: layout, size [width, height], colour, dtype, resize."""

    layout: Literal["NHWC", "NCHW", "tensor"] = "NHWC"
    size: list[int] | None = None
    colour: Literal["RGB", "BGR", "rgb", "bgr"] = "RGB"
    dtype: str | None = None
    resize: Literal["linear", "area", "nearest"] = "linear"
    letterbox: bool = False
    mean: float | list[float] | None = None
    std: float | list[float] | None = None


class Variant(_Open):
    """The same model compiled for one accelerator (e.g. an ``_edgetpu`` twin)."""

    accelerator: Literal["edgetpu", "npu", "gpu", "cpu"]
    model: str


class Golden(_Open):
    """One golden input and the first output expected from it (dequantized)."""

    input: str
    expected_scores: list[float]


class Manifest(_Open):
    """A parsed ``manifest.json``; ``raw`` is the exact signed bytes."""

    name: str = Field(min_length=1, max_length=128)
    version: str
    task: Literal["classification", "detection", "pose", "raw"]
    model: str
    labels: str | None = None
    input: InputSpec = Field(default_factory=InputSpec)
    output: dict[str, Any] = Field(default_factory=dict)
    variants: list[Variant] = Field(default_factory=list)
    golden: list[Golden] = Field(default_factory=list)
    golden_tolerance: float = Field(default=0.1, ge=0)
    latency_budget_ms: float | None = Field(default=None, gt=0)
    drift_reference: dict[Literal["score", "input"], list[float]] = Field(
        default_factory=dict
    )
    files: list[FileEntry]

    @field_validator("drift_reference")
    @classmethod
    def _check_reference(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        for name, sample in value.items():
            if not 20 <= len(sample) <= 100_000:
                raise ValueError(f"{name}: needs 20 to 100000 values")
            if not all(math.isfinite(v) for v in sample):
                raise ValueError(f"{name}: values must be finite numbers")
        return value

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError("must be letters, digits and . _ + - (at most 64)")
        return value

    def file_paths(self) -> set[str]:
        """Every path listed under ``files``."""
        return {f.path for f in self.files}

    def referenced(self) -> list[str]:
        """Paths the manifest uses (model, labels, variants, golden inputs)."""
        refs = [self.model, *(v.model for v in self.variants)]
        refs += [g.input for g in self.golden]
        return refs + ([self.labels] if self.labels else [])


def parse_manifest(raw: bytes, where: str = MANIFEST) -> Manifest:
    """Parse and check manifest bytes; every referenced file must be listed."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UpdateError(
            f"{where} is not valid JSON: {err}", reason="bad_manifest"
        ) from None
    if not isinstance(data, dict):
        raise UpdateError(f"{where} must hold a JSON object", reason="bad_manifest")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise UpdateError(
            f"{where}: {key}: {first['msg']} ({err.error_count()} problem(s))",
            reason="bad_manifest",
        ) from None
    missing = [p for p in manifest.referenced() if p not in manifest.file_paths()]
    if missing:
        raise UpdateError(
            f"{where} uses files it does not list under files: {', '.join(missing)}",
            reason="bad_manifest",
        )
    return manifest
