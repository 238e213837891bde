"""Accelerator selection: try each configured placement in order, keep the first that
loads the model, and remember why every earlier one was skipped."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgeinfer.backends import load_backend
from edgeinfer.backends.base import Backend, BackendOptions, Placement
from edgeinfer.backends.tflite_meta import EDGETPU_OP, read_tflite_info
from edgeinfer.errors import BackendUnavailable, EdgeinferError, ModelLoadError

log = logging.getLogger(__name__)

EDGETPU_DEVICES = ("edgetpu", "usb", "pci")


@dataclass(frozen=True)
class Candidate:
    """One entry of the preference list: where to try, with which options."""

    placement: Placement
    options: BackendOptions = field(default_factory=BackendOptions)


@dataclass(frozen=True)
class Skipped:
    """A candidate that could not run the model, and why."""

    placement: Placement
    reason: str


@dataclass(frozen=True)
class Selection:
    """The backend that won, the model file it runs, and the candidates skipped."""

    backend: Backend
    model_path: Path
    skipped: tuple[Skipped, ...]

    @property
    def fallback(self) -> bool:
        """True when the first choice was not the one used."""
        return bool(self.skipped)


def is_edgetpu_placement(placement: Placement) -> bool:
    """True for a LiteRT placement on a Coral Edge TPU."""
    return placement.backend == "litert" and placement.device.startswith(
        EDGETPU_DEVICES
    )


def _is_edgetpu_model(path: Path) -> bool:
    if path.suffix.lower() != ".tflite" or not path.is_file():
        return False
    try:
        return read_tflite_info(path).is_edgetpu
    except ModelLoadError:
        return False


def accelerator_kind(placement: Placement) -> str:
    """The accelerator a placement runs on, as bundles name their variants:
    ``edgetpu``, ``npu``, ``gpu`` or ``cpu``."""
    if is_edgetpu_placement(placement):
        return "edgetpu"
    device = placement.device.upper()
    if placement.backend == "openvino" and device.startswith(("NPU", "GPU")):
        return device[:3].lower()
    return "cpu"


def _model_for(placement: Placement, model_path: Path, cpu_twin: Path | None) -> Path:
    """The file to load on ``placement``; raise ModelLoadError when none fits."""
    on_tpu = is_edgetpu_placement(placement)
    if _is_edgetpu_model(model_path):
        if on_tpu:
            return model_path
        if cpu_twin is not None:
            return cpu_twin
        raise ModelLoadError(
            f"{model_path} is compiled for the Coral Edge TPU ({EDGETPU_OP}) and needs "
            f"the Edge TPU delegate (libedgetpu.so.1), not {placement} — "
            "connect a Coral and install libedgetpu1-std, or configure its CPU twin "
            "(cpu_twin)"
        )
    if on_tpu:
        raise ModelLoadError(
            f"{model_path} is not compiled for the Edge TPU — compile it with "
            "edgetpu_compiler and configure the *_edgetpu.tflite as the model"
        )
    return model_path


def select_backend(
    model_path: Path,
    candidates: list[Candidate],
    cpu_twin: Path | None = None,
    variants: Mapping[str, Path] | None = None,
) -> Selection:
    """Load ``model_path`` on the first candidate that can run it.

    ``variants`` maps an accelerator kind (see ``accelerator_kind``) to a file of
    the same model built for it (an Edge TPU compilation, an IR tuned for the NPU):
    a candidate of that kind loads its variant instead of ``model_path``.

    Raises the candidate's own error when there is one candidate, otherwise a
    ``BackendUnavailable`` listing every reason.
    """
    if not candidates:
        raise BackendUnavailable(f"no accelerator configured for {model_path}")
    if not model_path.exists():
        raise ModelLoadError(f"model {model_path} does not exist — check the path")
    skipped: list[Skipped] = []
    errors: list[EdgeinferError] = []
    for cand in candidates:
        try:
            own = (variants or {}).get(accelerator_kind(cand.placement), model_path)
            path = _model_for(cand.placement, own, cpu_twin)
            backend = load_backend(cand.placement, path, cand.options)
        except (BackendUnavailable, ModelLoadError) as err:
            log.info("skipping %s for %s: %s", cand.placement, model_path.name, err)
            skipped.append(Skipped(cand.placement, str(err)))
            errors.append(err)
            continue
        if skipped:
            log.info(
                "%s runs on %s (fallback after %s)",
                path.name,
                cand.placement,
                ", ".join(str(s.placement) for s in skipped),
            )
        return Selection(backend, path, tuple(skipped))
    if len(errors) == 1:
        raise errors[0]
    reasons = "; ".join(f"{s.placement}: {s.reason}" for s in skipped)
    raise BackendUnavailable(f"no accelerator could run {model_path}: {reasons}")
