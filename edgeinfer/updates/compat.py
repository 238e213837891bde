"""Whether a bundle can run here, and the ``ModelSpec`` it runs as.

The config still says *where* a model runs (its accelerators) and how results are
judged (rules); the bundle says *what* runs: files, task, labels and preprocessing.
"""

from __future__ import annotations

from dataclasses import replace

from edgeinfer.config import EdgeinferConfig, LiteRTConfig, OpenVINOConfig
from edgeinfer.errors import UpdateError
from edgeinfer.loading import model_spec
from edgeinfer.model import Model, ModelSpec
from edgeinfer.updates.bundle import Bundle

EDGETPU_SUFFIX = "_edgetpu.tflite"


def accelerator_kinds(config: EdgeinferConfig, name: str) -> list[str]:
    """The configured accelerators of model ``name`` as variant kinds, in order."""
    kinds = []
    for acc in config.accelerators_for(name):
        if isinstance(acc, LiteRTConfig):
            kinds.append("edgetpu" if acc.uses_edgetpu else "cpu")
        elif isinstance(acc, OpenVINOConfig):
            kinds.append(acc.device.split(".")[0].lower())
        else:
            kinds.append("cpu")
    return kinds


def check_compatible(config: EdgeinferConfig, name: str, bundle: Bundle) -> None:
    """Refuse a bundle whose task differs from the configured model's, or that has
    nothing able to run on this device's accelerators."""
    if name not in config.models:
        known = ", ".join(config.models) or "none"
        raise UpdateError(
            f"no model named {name!r} in the config to update — models: {known}",
            reason="incompatible",
        )
    manifest = bundle.manifest
    configured = config.models[name].task
    if configured not in ("auto", manifest.task):
        raise UpdateError(
            f"bundle {manifest.name} {manifest.version} is a {manifest.task} model but "
            f"model {name} is configured as {configured}",
            reason="incompatible",
        )
    kinds = set(accelerator_kinds(config, name))
    variants = {v.accelerator for v in manifest.variants}
    base_is_edgetpu = manifest.model.endswith(EDGETPU_SUFFIX)
    runnable = (kinds & variants) or (not base_is_edgetpu) or ("edgetpu" in kinds)
    if not runnable:
        raise UpdateError(
            f"bundle {manifest.name} {manifest.version} has no variant for this "
            f"device's accelerators ({', '.join(sorted(kinds))}) — add a CPU model",
            reason="incompatible",
        )


def bundle_spec(config: EdgeinferConfig, name: str, bundle: Bundle) -> ModelSpec:
    """The spec of model ``name`` running ``bundle`` on the configured accelerators.

    Each accelerator with a variant in the bundle (an Edge TPU compilation, an IR
    for the NPU) loads that variant; the others, and the fallback, the main model."""
    m = bundle.manifest
    base = model_spec(config, name)
    spec = m.input
    return replace(
        base,
        path=bundle.path(m.model),
        cpu_twin=None,
        variants=tuple((v.accelerator, bundle.path(v.model)) for v in m.variants),
        labels=bundle.path(m.labels) if m.labels else None,
        task=m.task,
        resize="letterbox" if spec.letterbox else "stretch",
        color="bgr" if spec.colour.lower() == "bgr" else "rgb",
        interpolation=spec.resize,
        mean=spec.mean,
        std=spec.std,
        version=m.version,
        drift_reference=tuple(
            (k, tuple(v)) for k, v in sorted(m.drift_reference.items())
        ),
    )


def check_input(model: Model, bundle: Bundle) -> None:
    """The loaded model's input tensor matches the manifest's input spec."""
    spec = bundle.manifest.input
    if spec.layout == "tensor" or not model.backend.inputs:
        return
    tensor = model.backend.inputs[0]
    shape = list(tensor.shape)
    if spec.size is not None and len(shape) == 4:
        h, w = (shape[1], shape[2]) if spec.layout == "NHWC" else (shape[2], shape[3])
        if [w, h] != list(spec.size):
            raise UpdateError(
                f"bundle {bundle.manifest.name}: the model takes {w}x{h} but the "
                f"manifest says {spec.size[0]}x{spec.size[1]}",
                reason="incompatible",
            )
    dtype = tensor.dtype.name
    if spec.dtype and dtype and spec.dtype not in dtype:
        raise UpdateError(
            f"bundle {bundle.manifest.name}: the model takes {dtype} but the manifest "
            f"says {spec.dtype}",
            reason="incompatible",
        )
