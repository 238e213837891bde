"""Accelerator entries: which runtime and device to try, in order of preference.

Each entry is a mapping discriminated on ``kind`` or a shorthand string::

    accelerators: [edgetpu:usb, npu, gpu, cpu]
    accelerators:
      - {kind: openvino, device: NPU, hint: throughput}
      - cpu
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from edgeinfer.config._base import ConfigModel, ConfigPath, invalid

KINDS = ("litert", "openvino", "onnxruntime")
SHORTHANDS = (
    "cpu, edgetpu, edgetpu:usb[:N], edgetpu:pci:N, npu, gpu, "
    "litert[:DEVICE], openvino[:DEVICE], onnxruntime[:DEVICE]"
)
_ALIASES = {
    "cpu": {"kind": "litert", "device": "cpu"},
    "edgetpu": {"kind": "litert", "device": "edgetpu"},
    "npu": {"kind": "openvino", "device": "NPU"},
    "gpu": {"kind": "openvino", "device": "GPU"},
}
_LITERT_DEVICE = re.compile(r"cpu|edgetpu|usb(:\d+)?|pci:\d+")
_OV_ONE = r"(CPU|GPU(\.\d+)?|NPU)"
_OV_DEVICE = re.compile(rf"{_OV_ONE}|AUTO|(AUTO|HETERO|MULTI):{_OV_ONE}(,{_OV_ONE})*")


class LiteRTConfig(ConfigModel):
    """LiteRT (TFLite) on the CPU with XNNPACK, or on a Coral Edge TPU (delegate)."""

    kind: Literal["litert"] = Field(default="litert", description="Runtime: LiteRT.")
    device: str = Field(
        default="cpu",
        description="cpu, or an Edge TPU: edgetpu (any), usb, usb:N or pci:N.",
    )
    threads: int = Field(default=0, ge=0, description="CPU threads; 0 uses every core.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Interpreters run side by side, each by its own worker. One "
        "(with every core in its threads) gives each frame the lowest latency; one "
        "per core with threads: 1 gives the most frames/s, even on a single stream.",
    )
    delegate_path: ConfigPath | None = Field(
        default=None,
        description="Explicit libedgetpu path; default: the system library.",
    )

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        device = value.strip().lower()
        if not _LITERT_DEVICE.fullmatch(device):
            raise invalid(
                "not a LiteRT device", "use cpu, edgetpu, usb, usb:N or pci:N"
            )
        return device

    @property
    def uses_edgetpu(self) -> bool:
        """True when this entry needs the Coral Edge TPU delegate."""
        return self.device != "cpu"


class OpenVINOConfig(ConfigModel):
    """OpenVINO on an Intel CPU, GPU or NPU."""

    kind: Literal["openvino"] = Field(
        default="openvino", description="Runtime: OpenVINO."
    )
    device: str = Field(
        default="CPU",
        description="CPU, GPU, GPU.N, NPU, AUTO, or AUTO:/HETERO:/MULTI: with a list.",
    )
    hint: Literal["latency", "throughput"] = Field(
        default="latency", description="Performance hint given to the compiler."
    )
    streams: int | None = Field(
        default=None,
        ge=1,
        description="Infer requests in flight, one worker each; default: what the "
        "runtime recommends, twice that with hint throughput (a request waits at each "
        "device stream while the others' frames are prepared).",
    )
    threads: int = Field(
        default=0, ge=0, description="CPU threads; 0 lets OpenVINO decide."
    )
    precision: Literal["f32", "bf16", "f16"] | None = Field(
        default=None,
        description="Inference precision of the float parts of the model; default: "
        "the runtime's choice for the device (bf16 on CPUs that have it, f16 on GPU "
        "and NPU); f32 gives the same results as the model's own float arithmetic.",
    )
    cache_dir: ConfigPath | None = Field(
        default=None,
        description="Compiled-model cache, so a restart does not recompile; "
        "default: <state_dir>/cache/openvino.",
    )

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        device = "".join(value.split()).upper()
        if not _OV_DEVICE.fullmatch(device):
            raise invalid(
                "not an OpenVINO device",
                "use CPU, GPU, GPU.N, NPU, AUTO, or AUTO:/HETERO:/MULTI: with a "
                "comma-separated list such as AUTO:NPU,CPU",
            )
        return device


class OnnxRuntimeConfig(ConfigModel):
    """ONNX Runtime (the ``onnx`` extra) on the CPU."""

    kind: Literal["onnxruntime"] = Field(
        default="onnxruntime", description="Runtime: ONNX Runtime."
    )
    device: str = Field(default="cpu", description="Execution device, e.g. cpu.")
    threads: int = Field(
        default=0, ge=0, description="Intra-op threads; 0 uses every core."
    )


def expand_accelerator(value: Any) -> Any:
    """Expand a shorthand such as ``edgetpu:usb`` or ``npu`` into its mapping."""
    if isinstance(value, dict) and "kind" not in value:
        raise invalid(
            "no kind given", f"add kind: one of {', '.join(KINDS)}, or use a shorthand"
        )
    if not isinstance(value, str):
        return value
    head, _, device = value.strip().partition(":")
    head = head.lower()
    if head in _ALIASES and not device:
        return dict(_ALIASES[head])
    if head == "edgetpu" and device.partition(":")[0].lower() in ("usb", "pci"):
        return {"kind": "litert", "device": device}
    if head in KINDS:
        return {"kind": head, "device": device} if device else {"kind": head}
    raise invalid(
        "not a known accelerator", f"use one of {SHORTHANDS}, or a mapping with kind"
    )


AcceleratorConfig = Annotated[
    LiteRTConfig | OpenVINOConfig | OnnxRuntimeConfig,
    Field(discriminator="kind"),
    BeforeValidator(expand_accelerator),
]
"""One accelerator entry: a mapping discriminated on ``kind``, or a shorthand string."""

AcceleratorList = Annotated[list[AcceleratorConfig], Field(min_length=1)]
"""Accelerators in order of preference; the first that loads a model wins."""


def describe_accelerator(entry: AcceleratorConfig) -> str:
    """A short form such as ``litert:usb`` or ``openvino:NPU``."""
    return f"{entry.kind}:{entry.device}"
