"""From a validated config to what the runtime loads: candidates and model specs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from edgeinfer.backends import normalize_placement
from edgeinfer.backends.base import BackendOptions
from edgeinfer.backends.select import Candidate
from edgeinfer.config import (
    AcceleratorConfig,
    EdgeinferConfig,
    LiteRTConfig,
    OpenVINOConfig,
    load_config,
)
from edgeinfer.errors import ConfigError
from edgeinfer.model import ModelSpec
from edgeinfer.placement import candidates_from_flags


def candidate_from_accelerator(
    config: EdgeinferConfig, acc: AcceleratorConfig
) -> Candidate:
    """One configured accelerator entry as a selection candidate."""
    placement = normalize_placement(acc.kind, acc.device)
    if isinstance(acc, OpenVINOConfig):
        options = BackendOptions(
            threads=acc.threads,
            hint=acc.hint,
            streams=acc.streams or 0,  # 0: see OpenVINOBackend.preferred_workers
            cache_dir=config.openvino_cache_dir(acc),
            extra={"precision": acc.precision} if acc.precision else {},
        )
    elif isinstance(acc, LiteRTConfig):
        extra = {"delegate_path": str(acc.delegate_path)} if acc.delegate_path else {}
        options = BackendOptions(threads=acc.threads, streams=acc.workers, extra=extra)
    else:
        options = BackendOptions(threads=acc.threads)
    return Candidate(placement, options)


def model_spec(config: EdgeinferConfig, name: str) -> ModelSpec:
    """The ``ModelSpec`` of model ``name`` in ``config``."""
    try:
        m = config.models[name]
    except KeyError:
        known = ", ".join(config.models) or "none"
        raise ConfigError(
            f"no model named {name!r} in the config — models: {known}"
        ) from None
    return ModelSpec(
        path=m.path,
        candidates=tuple(
            candidate_from_accelerator(config, acc)
            for acc in config.accelerators_for(name)
        ),
        labels=m.labels,
        task=m.task,
        cpu_twin=m.cpu_twin,
        label_offset=m.label_offset,
        score_threshold=m.score_threshold,
        top_k=m.top_k,
        resize=m.preprocess.resize,
        color=m.preprocess.color,
        interpolation=m.preprocess.interpolation,
        mean=m.preprocess.mean,
        std=m.preprocess.std,
        name=name,
        version=m.version,
    )


def model_spec_from_config(
    path: Path,
    overrides: Sequence[str],
    name: str | None,
    *,
    backend: str | None = None,
    device: str | None = None,
) -> ModelSpec:
    """Load the config at ``path`` and return the spec of model ``name`` (or the first).

    ``backend``/``device`` given on the command line replace the configured
    accelerators, as a technician trying one device expects.
    """
    config = load_config(path, overrides)
    if not config.models:
        raise ConfigError(f"{path} defines no models — add one under models:")
    spec = model_spec(config, name or next(iter(config.models)))
    if backend is None and device is None:
        return spec
    first = spec.candidates[0].options if spec.candidates else BackendOptions()
    cands = candidates_from_flags(spec.path, backend, device, first)
    return replace(spec, candidates=tuple(cands))
