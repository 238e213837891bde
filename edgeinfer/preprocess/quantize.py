"""Quantization in one place: real values to a tensor's native dtype and back.

``real = scale * (q - zero_point)``. Image inputs go through a 256-entry lookup table
built once per model, so turning a uint8 frame into an int8, uint8 or float tensor is a
single ``np.take`` into a preallocated buffer, whatever the normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgeinfer.backends.base import NDArray, TensorSpec


def quantize(real: NDArray, spec: TensorSpec) -> NDArray:
    """Quantize float values to ``spec``'s dtype (round to nearest, saturate)."""
    if not np.issubdtype(spec.dtype, np.integer):
        return np.asarray(real, dtype=spec.dtype)
    info = np.iinfo(spec.dtype)
    if spec.quant.is_identity:
        q = np.rint(real)
    else:
        q = (
            np.rint(np.asarray(real, np.float32) / spec.quant.scale)
            + spec.quant.zero_point
        )
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(tensor: NDArray, spec: TensorSpec) -> NDArray:
    """Return ``tensor`` as float32 real values (unchanged values for float tensors)."""
    if spec.quant.is_identity:
        return np.asarray(tensor, dtype=np.float32)
    return (tensor.astype(np.float32) - spec.quant.zero_point) * np.float32(
        spec.quant.scale
    )


def _per_channel(value: float | Sequence[float], channels: int) -> NDArray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        return np.repeat(arr, channels)
    if arr.size != channels:
        raise ValueError(f"need 1 or {channels} values, got {arr.size}")
    return arr


def pixel_lut(
    spec: TensorSpec,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> NDArray:
    """A ``[channels, 256]`` table mapping a uint8 pixel to the model's input value
    (``[1, 256]`` when every channel maps alike).

    With no ``mean``/``std`` a quantized input takes the pixel as the camera gives it
    (the model's quantization already encodes its normalisation, as for every Coral and
    TFLite image model), an int8 input takes ``pixel - 128``, and a float input takes
    ``pixel / 255``. With ``mean`` and ``std`` the real value is
    ``(pixel - mean) / std``, quantized with the tensor's scale and zero point when it
    has them.
    """
    channels = spec.shape[-1] if len(spec.shape) == 4 else 1
    pixels = np.arange(256, dtype=np.float64)
    if mean is None and std is None:
        if spec.dtype == np.uint8:
            return pixels.astype(np.uint8)[None, :]
        if spec.dtype == np.int8:
            return (pixels - 128).astype(np.int8)[None, :]
        mean, std = 0.0, 255.0
    means = _per_channel(mean if mean is not None else 0.0, channels)
    stds = _per_channel(std if std is not None else 1.0, channels)
    lut = quantize((pixels[None, :] - means[:, None]) / stds[:, None], spec)
    return lut[:1] if bool(np.all(lut == lut[:1])) else lut


# Table types cv2.LUT applies with SIMD; others (float16) go through np.take.
_CV_LUT_TYPES = (
    np.uint8,
    np.int8,
    np.uint16,
    np.int16,
    np.int32,
    np.float32,
    np.float64,
)


class PixelMap:
    """A pixel table prepared once for the fastest way to apply it per frame.

    The common cases need no table at all: a uint8 model taking raw pixels gets a
    copy, an int8 model taking ``pixel - 128`` gets the top bit flipped (the same
    bits, as two's complement). Any other table goes through ``cv2.LUT``, several
    times faster than ``np.take``.
    """

    def __init__(self, lut: NDArray) -> None:
        self.lut = lut
        single = lut.shape[0] == 1
        pixels = np.arange(256)
        self.identity = (
            single and lut.dtype == np.uint8 and bool(np.all(lut[0] == pixels))
        )
        self.flip = (
            single and lut.dtype == np.int8 and bool(np.all(lut[0] == pixels - 128))
        )
        self._table: NDArray | None = None
        if lut.dtype.type in _CV_LUT_TYPES:
            table = lut[0] if single else lut.T[None]  # (256,) or (1, 256, C)
            self._table = np.ascontiguousarray(table)

    def apply(self, pixels: NDArray, out: NDArray) -> NDArray:
        """Map an HxW(xC) uint8 image into ``out`` (``[1,H,W,C]``), in place."""
        view = out.reshape(pixels.shape)
        if self.identity:
            np.copyto(view, pixels)
        elif self.flip:
            np.bitwise_xor(pixels, np.uint8(0x80), out=view.view(np.uint8))
        elif self._table is not None:
            cv2.LUT(pixels, self._table, dst=view)
        else:
            apply_lut(pixels, self.lut, out)
        return out


def apply_lut(pixels: NDArray, lut: NDArray, out: NDArray) -> NDArray:
    """Map an HxWxC uint8 image through ``lut`` into ``out`` (shape ``[1,H,W,C]``)."""
    if lut.shape[0] == 1:
        np.take(lut[0], pixels, out=out.reshape(pixels.shape))
        return out
    view = out.reshape(pixels.shape)
    for c in range(lut.shape[0]):
        np.take(lut[c], pixels[..., c], out=view[..., c])
    return out
