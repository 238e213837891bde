"""Read what edgeinfer needs from a ``.tflite`` file without loading a runtime.

The input and output tensors (names, shapes, dtypes, quantization) and the custom ops a
model uses. OpenVINO reads ``.tflite`` files but does not report their quantization,
and a model compiled for the Edge TPU or using an unknown op is best recognised before
any runtime tries it, so the error can name the op and the fix.

Only the handful of fields below are read, straight from the flatbuffer tables of the
TFLite schema (field *i* of a table lives at vtable offset ``4 + 2*i``).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
from flatbuffers.table import Table

from edgeinfer.backends.base import NO_QUANT, Quantization, TensorSpec
from edgeinfer.errors import ModelLoadError

EDGETPU_OP = "edgetpu-custom-op"
SSD_POSTPROCESS_OP = "TFLite_Detection_PostProcess"

# TFLite TensorType enum -> NumPy dtype.
_DTYPES: dict[int, Any] = {
    0: np.float32,
    1: np.float16,
    2: np.int32,
    3: np.uint8,
    4: np.int64,
    6: np.bool_,
    7: np.int16,
    9: np.int8,
    10: np.float64,
    15: np.uint32,
    16: np.uint16,
}


@dataclass(frozen=True)
class TfliteInfo:
    """The tensors at the model's boundary and the custom ops it contains."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    custom_ops: frozenset[str]

    @property
    def is_edgetpu(self) -> bool:
        """True for a model compiled for the Coral Edge TPU."""
        return EDGETPU_OP in self.custom_ops


def _field(tab: Table, index: int) -> int:
    return int(tab.Offset(4 + 2 * index))


def _table(tab: Table, index: int) -> Table | None:
    off = _field(tab, index)
    if not off:
        return None
    return Table(tab.Bytes, tab.Indirect(tab.Pos + off))


def _vector_tables(tab: Table, index: int) -> list[Table]:
    off = _field(tab, index)
    if not off:
        return []
    start = tab.Vector(off)
    return [
        Table(tab.Bytes, tab.Indirect(start + 4 * i)) for i in range(tab.VectorLen(off))
    ]


def _vector_numbers(tab: Table, index: int, flags: Any) -> list[Any]:
    off = _field(tab, index)
    if not off:
        return []
    return list(tab.GetVectorAsNumpy(flags, off))


def _string(tab: Table, index: int) -> str:
    off = _field(tab, index)
    return tab.String(tab.Pos + off).decode("utf-8", "replace") if off else ""


def _scalar(tab: Table, index: int, flags: Any, default: int) -> int:
    off = _field(tab, index)
    return int(tab.Get(flags, tab.Pos + off)) if off else default


def _tensor_spec(tensor: Table) -> TensorSpec:
    n = flatbuffers.number_types
    shape = tuple(int(d) for d in _vector_numbers(tensor, 0, n.Int32Flags))
    type_code = _scalar(tensor, 1, n.Int8Flags, 0)
    quant = NO_QUANT
    qtab = _table(tensor, 4)
    if qtab is not None:
        scales = _vector_numbers(qtab, 2, n.Float32Flags)
        zeros = _vector_numbers(qtab, 3, n.Int64Flags)
        # Boundary tensors are per-tensor quantized; take the first entry.
        if len(scales) >= 1 and scales[0] != 0.0:
            quant = Quantization(float(scales[0]), int(zeros[0]) if zeros else 0)
    dtype = np.dtype(_DTYPES.get(type_code, np.float32))
    return TensorSpec(_string(tensor, 3), shape, dtype, quant)


def read_tflite_info(path: Path) -> TfliteInfo:
    """Parse ``path``'s first subgraph; ``ModelLoadError`` if it is not a model.

    The file is mapped, not read: the pages parsed are the runtime's own (it maps the
    file too), where a copy on the heap would stay behind as the heap's fragmentation
    (2 MB of the daemon's resident memory with MobileNet v2). The map goes with the
    last reference to it, when this returns.
    """
    try:
        with path.open("rb") as f:
            empty = f.seek(0, 2) == 0  # a map of nothing is an error
            buf = b"" if empty else mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as err:
        raise ModelLoadError(
            f"cannot read model {path}: {err.strerror} — check the path"
        ) from err
    if len(buf) < 8 or bytes(buf[4:8]) != b"TFL3":
        raise ModelLoadError(
            f"{path} is not a TFLite model (no TFL3 identifier) — "
            "give a .tflite file, or an .onnx/.xml model for OpenVINO"
        )
    try:
        root = Table(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))
        custom = frozenset(
            name for code in _vector_tables(root, 1) if (name := _string(code, 1))
        )
        subgraphs = _vector_tables(root, 2)
        if not subgraphs:
            raise ModelLoadError(f"{path} has no subgraph — rebuild or re-export it")
        graph = subgraphs[0]
        tensors = _vector_tables(graph, 0)
        n = flatbuffers.number_types
        inputs = tuple(
            _tensor_spec(tensors[i]) for i in _vector_numbers(graph, 1, n.Int32Flags)
        )
        outputs = tuple(
            _tensor_spec(tensors[i]) for i in _vector_numbers(graph, 2, n.Int32Flags)
        )
    except (IndexError, ValueError, UnicodeError, TypeError, struct.error) as err:
        raise ModelLoadError(
            f"{path} is truncated or not a valid TFLite model — "
            "copy the file again and check its size and sha256"
        ) from err
    return TfliteInfo(inputs, outputs, custom)
