"""The ``models`` section: the models this device runs, by name."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edgeinfer.config._base import ConfigModel, ConfigPath, invalid
from edgeinfer.config.accelerators import AcceleratorList

MODEL_SUFFIXES = (".tflite", ".onnx", ".xml")


class PreprocessConfig(ConfigModel):
    """How a frame becomes the model's input tensor."""

    resize: Literal["stretch", "letterbox"] = Field(
        default="stretch",
        description="stretch to the input size, or letterbox (keep aspect).",
    )
    color: Literal["rgb", "bgr"] = Field(
        default="rgb", description="Channel order the model expects."
    )
    interpolation: Literal["linear", "area", "nearest"] = Field(
        default="linear",
        description="Resize filter: linear is fastest; area keeps thin details when "
        "shrinking a large frame a lot (use what the model was trained with).",
    )
    mean: float | list[float] | None = Field(
        default=None,
        description="The model's real input is (pixel - mean) / std, one value or one "
        "per channel; unset: quantized inputs take raw pixels (their quantization "
        "encodes the normalisation) and float inputs take pixel / 255.",
    )
    std: float | list[float] | None = Field(
        default=None,
        description="Divides (pixel - mean); see mean.",
    )

    @field_validator("std")
    @classmethod
    def _check_std(
        cls, value: float | list[float] | None
    ) -> float | list[float] | None:
        if value is None:
            return value
        if any(v <= 0 for v in (value if isinstance(value, list) else [value])):
            raise invalid(
                "must be greater than 0", "use e.g. 127.5 or [58.4, 57.1, 57.4]"
            )
        return value


class ModelConfig(ConfigModel):
    """One model: its file, how to feed it and how to read its output."""

    path: ConfigPath = Field(
        description="Model file: .tflite (an *_edgetpu.tflite for the Edge TPU), "
        ".onnx, or an OpenVINO .xml with its .bin beside it."
    )
    labels: ConfigPath | None = Field(
        default=None, description="Labels file, one label per line (or 'id label')."
    )
    task: Literal["auto", "classification", "detection", "pose", "raw"] = Field(
        default="auto",
        description="How outputs are decoded; auto infers it from the model.",
    )
    cpu_twin: ConfigPath | None = Field(
        default=None,
        description="CPU model to fall back to when path is Edge TPU-compiled and "
        "no Edge TPU is present.",
    )
    accelerators: AcceleratorList | None = Field(
        default=None,
        description="Overrides the device-wide accelerators for this model.",
    )
    label_offset: int | None = Field(
        default=None,
        description="Added to class ids before the label lookup; None = auto.",
    )
    score_threshold: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Detections scoring below this are dropped.",
    )
    top_k: int = Field(default=5, ge=1, description="Most results kept per inference.")
    preprocess: PreprocessConfig = Field(
        default_factory=PreprocessConfig, description="Input preparation."
    )
    version: str = Field(default="", description="Model version reported in telemetry.")

    @field_validator("path")
    @classmethod
    def _check_suffix(cls, value: ConfigPath) -> ConfigPath:
        if value.suffix.lower() not in MODEL_SUFFIXES:
            raise invalid(
                "not a model file",
                "point it at a .tflite, .onnx or OpenVINO .xml file",
            )
        return value
