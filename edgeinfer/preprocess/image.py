"""Image preprocessing: a BGR frame to the model's input tensor, with reused buffers.

``ImagePreprocessor`` resizes (stretch or letterbox), converts the colour order, changes
the layout (NHWC or NCHW) and quantizes through a lookup table, writing into buffers it
allocated once: in the steady state a frame costs no allocation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from edgeinfer.backends.base import NDArray, TensorSpec
from edgeinfer.errors import InputError
from edgeinfer.preprocess.quantize import PixelMap, pixel_lut

LETTERBOX_FILL = 114
INTERPOLATIONS = {
    "linear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "nearest": cv2.INTER_NEAREST,
}


@dataclass(frozen=True)
class Letterbox:
    """Where the frame sits inside the model input, as fractions of the input size.

    A point ``(x, y)`` normalised to the model input maps back to the frame as
    ``((x - left) / width, (y - top) / height)``.
    """

    left: float = 0.0
    top: float = 0.0
    width: float = 1.0
    height: float = 1.0

    def to_frame(self, x: float, y: float) -> tuple[float, float]:
        """Map a point normalised to the model input back to the frame (0..1)."""
        return (x - self.left) / self.width, (y - self.top) / self.height


NO_LETTERBOX = Letterbox()


def read_image(path: Path) -> NDArray:
    """Read an image file as an HxWx3 BGR uint8 array; raise InputError otherwise."""
    if not path.is_file():
        raise InputError(f"input {path} does not exist — check the path")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise InputError(
            f"input {path} is not an image OpenCV can decode — "
            "give a JPEG, PNG, BMP or other common image file"
        )
    return image


def image_layout(spec: TensorSpec) -> tuple[int, int, int, bool]:
    """Return (height, width, channels, is_nchw) of a 4-D image input tensor."""
    shape = spec.shape
    if len(shape) != 4:
        raise InputError(
            f"model input {spec.describe()} is not a 4-D image tensor — "
            "use --task raw with an .npy input for non-image models"
        )
    if shape[1] in (1, 3) and shape[3] not in (1, 3):
        return shape[2], shape[3], shape[1], True
    return shape[1], shape[2], shape[3], False


class ImagePreprocessor:
    """Turn BGR uint8 frames of any size into the model's input tensor.

    The returned tensor is a buffer owned by this object and overwritten by the next
    call: hand it to the backend before preprocessing the next frame.
    """

    def __init__(
        self,
        spec: TensorSpec,
        *,
        resize: Literal["stretch", "letterbox"] = "stretch",
        color: Literal["rgb", "bgr"] = "rgb",
        interpolation: Literal["linear", "area", "nearest"] = "linear",
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
    ) -> None:
        self.spec = spec
        self.height, self.width, self.channels, self.nchw = image_layout(spec)
        self.resize = resize
        self.interpolation = INTERPOLATIONS[interpolation]
        self.swap_rb = color == "rgb" and self.channels == 3
        self._map = PixelMap(pixel_lut(spec, mean, std))
        self._resized = np.empty((self.height, self.width, 3), np.uint8)
        self._rgb = np.empty_like(self._resized)
        self._gray = np.empty((self.height, self.width), np.uint8)
        self._hwc = np.empty((1, self.height, self.width, self.channels), spec.dtype)
        self._out = np.empty(spec.shape, spec.dtype) if self.nchw else self._hwc
        # Raw uint8 pixels in NHWC: the colour conversion writes the tensor itself.
        self._direct = self._map.identity and not self.nchw and self.channels == 3
        self._pixels = self._hwc.reshape(self.height, self.width, 3)  # a view
        self._letterbox = NO_LETTERBOX
        self._letterbox_for: tuple[int, int] = (0, 0)

    def __call__(self, frame: NDArray) -> tuple[NDArray, Letterbox]:
        """Preprocess one HxWx3 BGR uint8 frame; return (input tensor, letterbox)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(
                f"frame of shape {frame.shape} and dtype {frame.dtype} is not a BGR "
                "uint8 image — decode it with OpenCV first"
            )
        resized = self._fit(frame)
        if self._direct:
            if self.swap_rb:
                cv2.cvtColor(resized, cv2.COLOR_BGR2RGB, dst=self._pixels)
            else:
                np.copyto(self._pixels, resized)
            return self._out, self._letterbox
        if self.channels == 1:
            pixels = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY, dst=self._gray)
        elif self.swap_rb:
            pixels = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB, dst=self._rgb)
        else:
            pixels = resized
        self._map.apply(pixels, self._hwc)
        if self.nchw:
            np.copyto(self._out, self._hwc.transpose(0, 3, 1, 2))
        return self._out, self._letterbox

    def _fit(self, frame: NDArray) -> NDArray:
        h, w = frame.shape[:2]
        if (h, w) == (self.height, self.width):
            return frame
        if self.resize == "stretch":
            return cv2.resize(
                frame,
                (self.width, self.height),
                dst=self._resized,
                interpolation=self.interpolation,
            )
        scale = min(self.width / w, self.height / h)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        left, top = (self.width - new_w) // 2, (self.height - new_h) // 2
        if self._letterbox_for != (h, w):
            self._resized.fill(LETTERBOX_FILL)
            self._letterbox = Letterbox(
                left / self.width,
                top / self.height,
                new_w / self.width,
                new_h / self.height,
            )
            self._letterbox_for = (h, w)
        cv2.resize(
            frame,
            (new_w, new_h),
            dst=self._resized[top : top + new_h, left : left + new_w],
            interpolation=self.interpolation,
        )
        return self._resized
