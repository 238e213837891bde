"""Machined parts for the demo conveyor scenes, drawn as RGBA sprites.

A sprite is a part rendered once (colour, antialiased alpha, optional defect)
and then pasted onto belt frames at any position, so the same part can travel
across a video. Sizes are in pixels of the 320x240 camera frame.

Parts: ``washer`` (a metal disc with a centre hole) and ``bracket`` (a rounded
metal bar with two or three holes). Defects: ``crack`` (dark jagged line),
``missing_hole`` (a hole never punched) and ``burn`` (dark scorch with a heat
tint).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

PART_KINDS = ("washer", "bracket")
DEFECT_KINDS = ("crack", "missing_hole", "burn")

_SHIFT = 3  # OpenCV fixed-point bits: coordinates are drawn at 1/8 pixel
_ONE = 1 << _SHIFT

FloatImage = NDArray[np.float32]


@dataclass(frozen=True)
class Sprite:
    """A rendered part.

    ``rgb`` is (h, w, 3) float32 in 0..255, ``alpha`` is (h, w) float32 in 0..1.
    ``anchor`` is the defect centre (x, y) in sprite pixels, or None for a good
    part; scenes keep it inside the frame so the defect is visible.
    """

    rgb: FloatImage
    alpha: FloatImage
    kind: str
    defect: str | None
    anchor: tuple[float, float] | None


def _fixed(points: NDArray[np.float64]) -> NDArray[np.int32]:
    """Convert (n, 2) float pixel coordinates to OpenCV fixed point."""
    return np.round(points * _ONE).astype(np.int32)


def _fill_poly(
    mask: NDArray[np.uint8], points: NDArray[np.float64], value: int
) -> None:
    """Fill one antialiased polygon given as (n, 2) float pixel coordinates."""
    cv2.fillPoly(mask, [_fixed(points)], value, cv2.LINE_AA, _SHIFT)


def _circle(
    mask: NDArray[np.uint8], centre: tuple[float, float], radius: float, value: int
) -> None:
    """Fill one antialiased circle at float pixel coordinates."""
    c = _fixed(np.array(centre))
    cv2.circle(
        mask,
        (int(c[0]), int(c[1])),
        round(radius * _ONE),
        value,
        -1,
        cv2.LINE_AA,
        _SHIFT,
    )


def _polyline(
    img: NDArray[np.float32],
    points: NDArray[np.float64],
    colour: tuple[float, ...],
    width: float,
) -> None:
    """Draw an antialiased open polyline of ``width`` pixels onto a float image."""
    for a, b in itertools.pairwise(points):
        pa, pb = _fixed(a), _fixed(b)
        cv2.line(
            img,
            (int(pa[0]), int(pa[1])),
            (int(pb[0]), int(pb[1])),
            colour,
            max(1, round(width)),
            cv2.LINE_AA,
            _SHIFT,
        )


def _metal_colour(rng: np.random.Generator) -> NDArray[np.float32]:
    """Base RGB of bare steel, zinc-plated or brass stock, 0..255."""
    material = rng.choice(3, p=[0.6, 0.25, 0.15])
    base = ([172, 176, 182], [188, 180, 146], [182, 160, 110])[int(material)]
    return (np.array(base, np.float32) * rng.uniform(0.82, 1.12)).astype(np.float32)


def _jagged_line(
    rng: np.random.Generator,
    start: NDArray[np.float64],
    end: NDArray[np.float64],
    jitter: float,
) -> NDArray[np.float64]:
    """A crack path: points from ``start`` to ``end`` with sideways jitter (pixels)."""
    n = max(4, int(np.linalg.norm(end - start) / 4))
    t = np.linspace(0.0, 1.0, n)[:, None]
    path = start + (end - start) * t
    normal = np.array([-(end - start)[1], (end - start)[0]]) / (
        np.linalg.norm(end - start) + 1e-9
    )
    offsets = np.cumsum(rng.normal(0.0, jitter, n))
    offsets -= np.linspace(offsets[0], offsets[-1], n)  # pin both ends
    return path + normal * offsets[:, None]


def _add_scratches(rng: np.random.Generator, rgb: FloatImage, size: int) -> None:
    """Benign handling marks: faint thin lines and specks that are not defects."""
    for _ in range(int(rng.integers(0, 4))):
        a = rng.uniform(0, size, 2)
        b = a + rng.normal(0, 10, 2)
        tone = float(rng.uniform(-12, 28))
        colour = tuple(
            float(v)
            for v in np.clip(rgb[int(a[1]) % size, int(a[0]) % size] + tone, 0, 255)
        )
        _polyline(rgb, np.stack([a, b]), colour, 1)
    for _ in range(int(rng.integers(0, 3))):
        p = rng.uniform(0, size, 2)
        cv2.circle(rgb, (int(p[0]), int(p[1])), 1, (70.0, 66.0, 60.0), -1, cv2.LINE_AA)


def _apply_burn(
    rng: np.random.Generator,
    rgb: FloatImage,
    centre: NDArray[np.float64],
    radius: float,
) -> None:
    """Darken a blotchy region with a brown core and a bluish heat-tint halo."""
    h, w = rgb.shape[:2]
    blob = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(3, 6))):
        c = centre + rng.normal(0, radius * 0.35, 2)
        axes = rng.uniform(0.45, 0.9, 2) * radius
        cv2.ellipse(
            blob,
            (int(c[0]), int(c[1])),
            (max(2, int(axes[0])), max(2, int(axes[1]))),
            float(rng.uniform(0, 180)),
            0,
            360,
            255,
            -1,
            cv2.LINE_AA,
        )
    core = cv2.GaussianBlur(blob.astype(np.float32) / 255.0, (0, 0), radius * 0.2 + 0.5)
    halo = cv2.GaussianBlur(core, (0, 0), radius * 0.45 + 1.0) - core
    strength = float(rng.uniform(0.8, 0.95))
    scorch = np.array([52, 36, 24], np.float32) * rng.uniform(0.6, 1.3)
    rgb += np.clip(halo, 0, 1)[..., None] * np.array([-18, -10, 22], np.float32)
    rgb[:] = rgb * (1 - strength * core[..., None]) + scorch * (
        strength * core[..., None]
    )


def _finish(
    rgb: FloatImage,
    mask: NDArray[np.uint8],
    kind: str,
    defect: str | None,
    anchor: tuple[float, float] | None,
) -> Sprite:
    """Darken the rim (a bevel), clip and package the sprite."""
    alpha = mask.astype(np.float32) / 255.0
    inner = (
        cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=2).astype(np.float32)
        / 255.0
    )
    rim = np.clip(alpha - inner, 0, 1)
    rgb *= (1.0 - 0.35 * rim)[..., None]
    return Sprite(np.clip(rgb, 0, 255).astype(np.float32), alpha, kind, defect, anchor)


def render_washer(rng: np.random.Generator, defect: str | None) -> Sprite:
    """A machined washer of outer radius 46..72 px, optionally with ``defect``."""
    outer = float(rng.uniform(46, 72))
    inner = outer * float(rng.uniform(0.3, 0.48))
    size = int(2 * outer + 12)
    c = np.array([size / 2, size / 2])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    rho = np.hypot(xx - c[0], yy - c[1])
    phi = np.arctan2(yy - c[1], xx - c[0])
    light = float(rng.uniform(-math.pi, math.pi))
    shade = (
        1
        + 0.2 * np.cos(phi - light) * rho / outer
        + 0.04 * np.sin(rho * rng.uniform(1.2, 2.4))
    )
    gloss = np.exp(-((((phi - light + math.pi) % (2 * math.pi) - math.pi) / 0.4) ** 2))
    gloss *= np.exp(-(((rho - (outer + inner) / 2) / (0.25 * outer)) ** 2))
    rgb = (
        _metal_colour(rng) * shade[..., None] + (rng.uniform(15, 55) * gloss)[..., None]
    )
    rgb = rgb.astype(np.float32)
    _add_scratches(rng, rgb, size)

    mask = np.zeros((size, size), np.uint8)
    _circle(mask, (c[0], c[1]), outer, 255)
    if defect != "missing_hole":
        _circle(mask, (c[0], c[1]), inner, 0)
    theta = float(rng.uniform(0, 2 * math.pi))
    direction = np.array([math.cos(theta), math.sin(theta)])
    ring_mid = c + direction * (outer + inner) / 2
    anchor: NDArray[np.float64] | None = None
    if defect == "crack":
        start = c + direction * outer * 1.02
        bend = theta + float(rng.uniform(-0.7, 0.7))
        end = c + np.array([math.cos(bend), math.sin(bend)]) * inner * 0.95
        path = _jagged_line(rng, start, end, 1.6)
        _polyline(
            rgb, path, (float(rng.uniform(15, 35)),) * 3, float(rng.uniform(4.0, 6.0))
        )
        anchor = path[len(path) // 2]
    elif defect == "missing_hole":
        # A dimple where the punch only marked the blank.
        _circle(mask, (c[0], c[1]), inner, 255)
        rgb *= np.where(rho < inner, float(rng.uniform(0.82, 0.95)), 1.0)[
            ..., None
        ].astype(np.float32)
        anchor = c
    elif defect == "burn":
        anchor = ring_mid
        _apply_burn(
            rng, rgb, ring_mid, float(rng.uniform(0.8, 1.1)) * (outer - inner) + 4
        )
    return _finish(
        rgb,
        mask,
        "washer",
        defect,
        None if anchor is None else (float(anchor[0]), float(anchor[1])),
    )


def _rounded_rect(length: float, width: float, corner: float) -> NDArray[np.float64]:
    """Outline (n, 2) of a rounded rectangle centred on the origin."""
    points = []
    hx, hy = length / 2 - corner, width / 2 - corner
    for cx, cy, start in (
        (hx, hy, 0.0),
        (-hx, hy, 90.0),
        (-hx, -hy, 180.0),
        (hx, -hy, 270.0),
    ):
        for a in np.radians(np.linspace(start, start + 90, 7)):
            points.append((cx + corner * math.cos(a), cy + corner * math.sin(a)))
    return np.array(points)


def render_bracket(rng: np.random.Generator, defect: str | None) -> Sprite:
    """A brushed flat bracket 52..74 px wide with 2-3 holes, maybe with ``defect``."""
    width = float(rng.uniform(52, 74))
    length = width * float(rng.uniform(1.8, 2.5))
    size = int(math.hypot(length, width) + 12)
    c = np.array([size / 2, size / 2])
    angle = float(rng.uniform(0, math.pi))
    rot = np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )

    def to_sprite(local: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.atleast_2d(local) @ rot.T + c

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    u = (xx - c[0]) * math.cos(angle) + (yy - c[1]) * math.sin(angle)
    v = -(xx - c[0]) * math.sin(angle) + (yy - c[1]) * math.cos(angle)
    streaks = np.interp(
        v, np.linspace(-width, width, 160), rng.normal(0, 1, 160)
    ).astype(np.float32)
    light = rng.normal(0, 1, 2)
    shade = 1 + 0.25 * (light[0] * u / length + light[1] * v / width) / (
        np.linalg.norm(light) + 1e-6
    )
    rgb = (
        _metal_colour(rng) * shade[..., None] + (streaks * rng.uniform(3, 9))[..., None]
    ).astype(np.float32)
    _add_scratches(rng, rgb, size)

    mask = np.zeros((size, size), np.uint8)
    _fill_poly(
        mask,
        to_sprite(_rounded_rect(length, width, width * float(rng.uniform(0.15, 0.35)))),
        255,
    )
    # Missing-hole rejects come from the two-hole press: one hole, at one end.
    n_holes = 2 if defect == "missing_hole" else int(rng.integers(2, 4))
    hole_r = width * float(rng.uniform(0.14, 0.2))
    holes = [
        np.array([length * ((i + 0.5) / n_holes - 0.5), 0.0]) for i in range(n_holes)
    ]
    missing = int(rng.integers(2)) if defect == "missing_hole" else -1
    for i, h in enumerate(holes):
        if i != missing:
            p = to_sprite(h)[0]
            _circle(mask, (p[0], p[1]), hole_r, 0)
    anchor: NDArray[np.float64] | None = None
    side = float(rng.choice([-1.0, 1.0]))
    along = float(rng.uniform(-0.4, 0.4)) * length
    if defect == "crack":
        start = to_sprite(np.array([along, side * width * 0.55]))[0]
        end = to_sprite(
            np.array(
                [
                    along + rng.uniform(-0.4, 0.4) * width,
                    -side * width * rng.uniform(0.1, 0.55),
                ]
            )
        )[0]
        path = _jagged_line(rng, start, end, 1.6)
        _polyline(
            rgb, path, (float(rng.uniform(15, 35)),) * 3, float(rng.uniform(4.0, 6.0))
        )
        anchor = path[len(path) // 2]
    elif defect == "missing_hole":
        anchor = to_sprite(holes[missing])[0]
    elif defect == "burn":
        anchor = to_sprite(np.array([along, rng.uniform(-0.2, 0.2) * width]))[0]
        _apply_burn(rng, rgb, anchor, float(rng.uniform(0.35, 0.5)) * width + 3)
    return _finish(
        rgb,
        mask,
        "bracket",
        defect,
        None if anchor is None else (float(anchor[0]), float(anchor[1])),
    )


def render_part(
    rng: np.random.Generator, defect: str | None, kind: str | None = None
) -> Sprite:
    """Render a random part (or the given ``kind``) with an optional defect."""
    chosen = kind if kind is not None else str(rng.choice(PART_KINDS))
    if chosen == "washer":
        return render_washer(rng, defect)
    return render_bracket(rng, defect)
