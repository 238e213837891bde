"""Conveyor-belt camera frames for the demo model: belt, lighting, camera.

A fixed camera looks down on a belt that runs left to right between two
guide rails. A frame is 320x240 RGB uint8. The belt texture is periodic
along x so that a video can scroll it; parts (see ``demo_parts``) sit on the
belt and cast a soft shadow. The camera adds uneven lighting, optical and
motion blur, sensor noise and, sometimes, JPEG compression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from demo_parts import Sprite
from numpy.typing import NDArray

FRAME_W, FRAME_H = 320, 240
FloatImage = NDArray[np.float32]


@dataclass(frozen=True)
class Belt:
    """A camera station: static rails plus a belt texture that scrolls.

    ``rails`` is (240, 320, 3) float32 RGB 0..255 with the belt rows left at
    zero; ``belt`` is (bottom - top, period, 3) float32 and wraps along x.
    """

    rails: FloatImage
    belt: FloatImage
    top: int
    bottom: int


@dataclass(frozen=True)
class Camera:
    """Per-frame camera settings: lighting field, blur and noise."""

    light: FloatImage  # (240, 320, 3) gain per pixel and channel
    blur_sigma: float  # optical blur, pixels
    motion_px: int  # horizontal motion-blur length, pixels
    noise_sigma: float  # sensor noise, grey levels
    jpeg_quality: int  # 0 = no compression


def _periodic_noise(
    rng: np.random.Generator, h: int, w: int, sigma: float
) -> FloatImage:
    """Gaussian-blurred noise (h, w) that wraps seamlessly along x."""
    pad = int(4 * sigma + 2)
    raw = rng.normal(0, 1, (h, w)).astype(np.float32)
    wrapped = np.pad(raw, ((0, 0), (pad, pad)), mode="wrap")
    blurred = cv2.GaussianBlur(wrapped, (0, 0), sigma)[:, pad:-pad]
    return blurred / (blurred.std() + 1e-6)


def make_belt(rng: np.random.Generator, period: int = 960) -> Belt:
    """Sample a belt station: rubber or PVC belt, cleats, rails with bolts."""
    top = int(rng.integers(12, 26))
    bottom = FRAME_H - int(rng.integers(12, 26))
    h = bottom - top
    tint = np.array([[1.0, 1.0, 1.0], [0.86, 1.05, 0.9], [0.9, 0.95, 1.08]], np.float32)
    colour = float(rng.uniform(62, 118)) * tint[int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
    x = np.arange(period, dtype=np.float32)
    wear = sum(
        rng.uniform(2, 6)
        * np.sin(
            2 * math.pi * int(rng.integers(1, 7)) * x / period + rng.uniform(0, 6.3)
        )
        for _ in range(3)
    )
    grey = (
        _periodic_noise(rng, h, period, 0.7) * rng.uniform(3, 7)
        + (
            _periodic_noise(rng, h, 1, 1.2) * rng.uniform(1, 3)
        )  # streaks along the travel
        + _periodic_noise(rng, h, period, 12.0) * rng.uniform(2, 6)
        + wear[None, :]
    )
    n_cleats = int(rng.choice([3, 4, 6]))
    cleat_w = int(rng.integers(4, 11))
    cleat_tone = float(rng.uniform(-24, 18))
    for k in range(n_cleats):
        x0 = int(k * period / n_cleats)
        grey[:, x0 : x0 + cleat_w] += cleat_tone
        grey[:, x0 + cleat_w : x0 + cleat_w + 2] += 10.0  # lit leading edge
    belt = np.clip(colour[None, None, :] + grey[..., None], 0, 255).astype(np.float32)

    rails = np.zeros((FRAME_H, FRAME_W, 3), np.float32)
    metal = float(rng.uniform(120, 175))
    for y0, y1 in ((0, top), (bottom, FRAME_H)):
        ys = np.linspace(-1, 1, y1 - y0, dtype=np.float32)[:, None]
        profile = metal * (1.0 - 0.25 * ys**2) + rng.normal(0, 2, (y1 - y0, 1)).astype(
            np.float32
        )
        rails[y0:y1] = profile[:, :, None]
        for bx in range(int(rng.integers(10, 60)), FRAME_W, 80):
            cv2.circle(
                rails, (bx, (y0 + y1) // 2), 3, (metal * 0.55,) * 3, -1, cv2.LINE_AA
            )
    rails[top - 2 : top] *= 0.5  # gap shadow between rail and belt
    rails[bottom : bottom + 2] *= 0.5
    return Belt(rails, belt, top, bottom)


def sample_camera(rng: np.random.Generator, moving: bool) -> Camera:
    """Random lighting field, blur, noise and compression for one frame."""
    xx = np.arange(FRAME_W, dtype=np.float32)[None, :]
    yy = np.arange(FRAME_H, dtype=np.float32)[:, None]
    gx, gy = (float(v) for v in rng.uniform(-0.3, 0.3, 2))
    cx, cy = rng.uniform(0, FRAME_W), rng.uniform(0, FRAME_H)
    vignette = 1 - rng.uniform(0, 0.35) * ((xx - cx) ** 2 + (yy - cy) ** 2) / (
        FRAME_W**2
    )
    field = (
        rng.uniform(0.7, 1.3)
        * (1 + gx * (xx / FRAME_W - 0.5) + gy * (yy / FRAME_H - 0.5))
        * vignette
    )
    white = rng.uniform(0.95, 1.05, 3).astype(np.float32)
    return Camera(
        light=(field[..., None] * white).astype(np.float32),
        blur_sigma=float(rng.uniform(0.3, 1.1)),
        motion_px=int(rng.integers(1, 5)) if moving else 1,
        noise_sigma=float(rng.uniform(1.0, 5.0)),
        jpeg_quality=int(rng.integers(35, 95)) if rng.random() < 0.6 else 0,
    )


def belt_background(belt: Belt, offset: int) -> FloatImage:
    """The belt scrolled by ``offset`` pixels, with rails: (240, 320, 3) float32."""
    frame = belt.rails.copy()
    start = -offset % belt.belt.shape[1]
    strip = belt.belt[:, start : start + FRAME_W]
    if strip.shape[1] < FRAME_W:  # wrap around the end of the loop
        strip = np.concatenate(
            [strip, belt.belt[:, : FRAME_W - strip.shape[1]]], axis=1
        )
    frame[belt.top : belt.bottom] = strip
    return frame


def add_belt_dirt(rng: np.random.Generator, frame: FloatImage, belt: Belt) -> None:
    """Oil stains and bright metal shavings lying on the belt (not defects)."""
    for _ in range(int(rng.integers(0, 4))):
        stain = np.zeros(frame.shape[:2], np.float32)
        c = (int(rng.uniform(0, FRAME_W)), int(rng.uniform(belt.top, belt.bottom)))
        axes = (int(rng.uniform(4, 22)), int(rng.uniform(3, 14)))
        cv2.ellipse(
            stain, c, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA
        )
        stain = cv2.GaussianBlur(stain, (0, 0), 3)
        frame *= (1 - rng.uniform(0.1, 0.3) * stain)[..., None]
    for _ in range(int(rng.integers(0, 5))):
        a = np.array([rng.uniform(0, FRAME_W), rng.uniform(belt.top, belt.bottom)])
        b = a + rng.normal(0, 3, 2)
        cv2.line(
            frame,
            tuple(a.astype(int)),
            tuple(b.astype(int)),
            (200.0, 200.0, 205.0),
            1,
            cv2.LINE_AA,
        )


def paste_sprite(frame: FloatImage, sprite: Sprite, x0: int, y0: int) -> None:
    """Composite ``sprite`` with its top-left corner at (x0, y0), with a shadow."""
    h, w = sprite.alpha.shape
    shadow = cv2.GaussianBlur(sprite.alpha, (0, 0), 3.0)
    for layer, dx, dy, strength in ((shadow, 4, 5, 0.5), (sprite.alpha, 0, 0, 1.0)):
        fx0, fy0 = max(0, x0 + dx), max(0, y0 + dy)
        fx1, fy1 = min(FRAME_W, x0 + dx + w), min(FRAME_H, y0 + dy + h)
        if fx0 >= fx1 or fy0 >= fy1:
            continue
        sx0, sy0 = fx0 - x0 - dx, fy0 - y0 - dy
        a = layer[sy0 : sy0 + fy1 - fy0, sx0 : sx0 + fx1 - fx0, None] * strength
        region = frame[fy0:fy1, fx0:fx1]
        if layer is shadow:
            region *= 1 - a
        else:
            region[:] = (
                region * (1 - a)
                + sprite.rgb[sy0 : sy0 + fy1 - fy0, sx0 : sx0 + fx1 - fx0] * a
            )


def visible_fraction(sprite: Sprite, x0: int, y0: int) -> float:
    """Fraction of the sprite's alpha mass inside the frame at (x0, y0)."""
    inside = sprite.alpha[
        max(0, -y0) : max(0, FRAME_H - y0), max(0, -x0) : max(0, FRAME_W - x0)
    ]
    return float(inside.sum() / (sprite.alpha.sum() + 1e-6))


def apply_camera(
    rng: np.random.Generator, scene: FloatImage, camera: Camera
) -> NDArray[np.uint8]:
    """Light, blur, add noise and maybe JPEG-compress a scene: (240, 320, 3) uint8."""
    img = scene * camera.light
    img = cv2.GaussianBlur(img, (0, 0), camera.blur_sigma)
    if camera.motion_px > 1:
        kernel = np.full((1, camera.motion_px), 1.0 / camera.motion_px, np.float32)
        img = cv2.filter2D(img, -1, kernel)
    img += rng.standard_normal(img.shape, dtype=np.float32) * camera.noise_sigma
    out = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if camera.jpeg_quality:
        bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(
            ".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg_quality]
        )
        if ok:
            out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out
