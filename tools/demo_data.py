"""Labelled demo data: single frames for training and a conveyor video.

Labels are class indices into ``LABELS``: 0 ``empty`` (belt only), 1 ``ok``
(a good part), 2 ``defect`` (a part with a visible defect). Frames are
320x240 RGB uint8; the model sees them resized to 64x64 with area
interpolation (``to_model_input``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from demo_parts import DEFECT_KINDS, Sprite, render_part
from demo_scenes import (
    FRAME_H,
    FRAME_W,
    Belt,
    add_belt_dirt,
    apply_camera,
    belt_background,
    make_belt,
    paste_sprite,
    sample_camera,
    visible_fraction,
)
from numpy.typing import NDArray

LABELS = ("empty", "ok", "defect")
MODEL_SIZE = 64
_ANCHOR_MARGIN = 16  # pixels: a defect this close to the border counts as unseen


@dataclass(frozen=True)
class Shot:
    """One rendered frame and what it shows (``defect`` and ``kind`` may be None)."""

    frame: NDArray[np.uint8]  # (240, 320, 3) RGB
    label: int
    kind: str | None
    defect: str | None


def to_model_input(
    frame: NDArray[np.uint8], interpolation: int = cv2.INTER_AREA
) -> NDArray[np.uint8]:
    """Resize a (H, W, 3) RGB frame to the (64, 64, 3) model input."""
    return cv2.resize(frame, (MODEL_SIZE, MODEL_SIZE), interpolation=interpolation)


def _anchor_visible(sprite: Sprite, x0: int, y0: int) -> bool:
    """True if the sprite has no defect or its defect lies inside the frame."""
    if sprite.anchor is None:
        return True
    ax, ay = sprite.anchor[0] + x0, sprite.anchor[1] + y0
    m = _ANCHOR_MARGIN
    return m <= ax < FRAME_W - m and m <= ay < FRAME_H - m


def place_part(rng: np.random.Generator, sprite: Sprite, belt: Belt) -> tuple[int, int]:
    """Top-left corner for ``sprite`` on the belt; some parts are cut by the frame edge.

    A cut part keeps at least 45 % of its area, and a defect stays in view.
    """
    h, w = sprite.alpha.shape
    entering = rng.random() < 0.2
    for _ in range(200):
        cy = rng.uniform(belt.top + 0.3 * h, belt.bottom - 0.3 * h)
        if entering:
            inset = (
                rng.uniform(-0.05, 0.45) * w
            )  # part centre's distance inside the edge
            cx = inset if rng.random() < 0.5 else FRAME_W - inset
            min_visible = 0.7
        else:
            cx = rng.uniform(0.45 * w, FRAME_W - 0.45 * w)
            min_visible = 0.9
        x0, y0 = round(cx - w / 2), round(cy - h / 2)
        if visible_fraction(sprite, x0, y0) >= min_visible and _anchor_visible(
            sprite, x0, y0
        ):
            return x0, y0
    return (FRAME_W - w) // 2, (belt.top + belt.bottom - h) // 2


def render_shot(rng: np.random.Generator, belt: Belt, label: int) -> Shot:
    """Render one camera frame of class ``label`` on ``belt``."""
    scene = belt_background(belt, int(rng.integers(belt.belt.shape[1])))
    add_belt_dirt(rng, scene, belt)
    kind: str | None = None
    defect: str | None = None
    if label != 0:
        defect = str(rng.choice(DEFECT_KINDS)) if label == 2 else None
        sprite = render_part(rng, defect)
        kind = sprite.kind
        paste_sprite(scene, sprite, *place_part(rng, sprite, belt))
    frame = apply_camera(rng, scene, sample_camera(rng, moving=True))
    return Shot(frame, label, kind, defect)


def make_dataset(
    rng: np.random.Generator, n: int, n_belts: int = 8
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Balanced labelled images: (n, 64, 64, 3) uint8 RGB and (n,) int64 labels.

    Images are resized with area interpolation, and 1 in 5 with bilinear, so
    the model tolerates either resize in a deployment pipeline.
    """
    belts = [make_belt(rng) for _ in range(n_belts)]
    labels = rng.permutation(np.arange(n) % len(LABELS)).astype(np.int64)
    images = np.empty((n, MODEL_SIZE, MODEL_SIZE, 3), np.uint8)
    for i, label in enumerate(labels):
        shot = render_shot(rng, belts[int(rng.integers(n_belts))], int(label))
        inter = cv2.INTER_LINEAR if rng.random() < 0.2 else cv2.INTER_AREA
        images[i] = to_model_input(shot.frame, inter)
    return images, labels
