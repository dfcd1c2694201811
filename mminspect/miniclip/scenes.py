"""Synthetic scenes for mini-CLIP: coloured shapes on varied backgrounds, with exact masks.

Because we draw the images, we know where every object is: each scene carries one boolean
mask per object, so an explanation's heat map can be scored against the truth.

Layout: the image is a 3x3 grid of cells (top/middle/bottom x left/center/right); each object
sits in its own cell (so objects never overlap and a mask is exactly the object's pixels),
jittered inside it. Everything is drawn from a `numpy.random.Generator`; `scene(seed, i)`
seeds one generator per (seed, index), so scene i is the same whatever else was drawn.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star", "cross")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
SIZES = ("small", "large")
ROWS = ("top", "middle", "bottom")
COLS = ("left", "center", "right")
POSITIONS = tuple((r, c) for r in range(3) for c in range(3))     # row-major cell indices

# Saturated base colours; backgrounds stay low-saturation so colour never hides in them.
RGB = {"red": (215, 35, 35), "green": (35, 165, 55), "blue": (40, 75, 215),
       "yellow": (235, 205, 30), "purple": (135, 55, 185), "orange": (245, 135, 25)}
RADIUS = {"small": 5.5, "large": 9.0}      # pixels at 64 px; scaled with the image size
N_OBJECTS_P = (0.4, 0.35, 0.25)            # probability of 1, 2, 3 objects
COLOUR_JITTER = 18                          # +- per channel, so "red" is a range, not one value
BACKGROUND_SAT_MAX = 40                     # max - min channel of any background pixel


@dataclass(frozen=True)
class ObjectSpec:
    """What a caption can say about one object: shape, colour, size, grid cell."""

    shape: str
    colour: str
    size: str
    row: int
    col: int

    @property
    def position(self) -> tuple[int, int]:
        return (self.row, self.col)


@dataclass(frozen=True)
class Scene:
    """One drawn scene. image: uint8 [H, W, 3]; masks: bool [object, H, W] (the exact pixels
    painted for each object); rgbs: the painted colour of each object; objects: the specs."""

    image: np.ndarray
    masks: np.ndarray
    objects: tuple[ObjectSpec, ...]
    rgbs: tuple[tuple[int, int, int], ...]

    def pil(self) -> Image.Image:
        return Image.fromarray(self.image)


def sample_layout(rng: np.random.Generator, n_objects: int | None = None) -> tuple[ObjectSpec, ...]:
    """1-3 objects in distinct cells, attributes uniform; two objects never share both
    colour and shape (a caption could not tell them apart)."""
    n = int(rng.choice(3, p=N_OBJECTS_P)) + 1 if n_objects is None else n_objects
    cells = rng.choice(len(POSITIONS), size=n, replace=False)
    objs: list[ObjectSpec] = []
    while len(objs) < n:
        shape, colour = SHAPES[rng.integers(len(SHAPES))], COLOURS[rng.integers(len(COLOURS))]
        if any(o.shape == shape and o.colour == colour for o in objs):
            continue
        r, c = POSITIONS[cells[len(objs)]]
        objs.append(ObjectSpec(shape, colour, SIZES[rng.integers(len(SIZES))], r, c))
    return tuple(objs)


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        h = r * 0.85                                      # same visual area as the circle
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r * 0.95, cy + r * 0.8), (cx - r * 0.95, cy + r * 0.8)]
    if shape == "star":
        ang = -np.pi / 2 + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, r * 1.1, r * 0.45)
        return list(zip(cx + rad * np.cos(ang), cy + rad * np.sin(ang)))
    if shape == "cross":
        a, b = r * 0.35, r
        pts = [(a, b), (a, a), (b, a), (b, -a), (a, -a), (a, -b),
               (-a, -b), (-a, -a), (-b, -a), (-b, a), (-a, a), (-a, b)]
        return [(cx + x, cy + y) for x, y in pts]
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def draw_mask(obj: ObjectSpec, cx: float, cy: float, size: int) -> np.ndarray:
    """The object's pixels as bool [H, W] (no anti-aliasing, so a pixel is in or out)."""
    r = RADIUS[obj.size] * size / 64
    m = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(m)
    if obj.shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        d.polygon(_polygon(obj.shape, cx, cy, r), fill=255)
    return np.asarray(m) > 0


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Light or dark, flat or gradient, always low saturation, with a little pixel noise."""
    def tint(light: bool) -> np.ndarray:
        base = rng.uniform(185, 240) if light else rng.uniform(25, 85)
        return base + rng.uniform(-12, 12, size=3)                  # [3]
    light = rng.random() < 0.7
    a, b = tint(light), tint(light)
    kind = rng.integers(3)                                           # flat, vertical, horizontal
    t = np.linspace(0, 1, size)[:, None, None]                       # [H, 1, 1]
    if kind == 0:
        img = np.broadcast_to(a, (size, size, 3)).astype(np.float64)
    else:
        ramp = a + (b - a) * t                                       # [H, 1, 3]
        img = np.broadcast_to(ramp, (size, size, 3)) if kind == 1 else \
            np.broadcast_to(ramp.transpose(1, 0, 2), (size, size, 3))
    img = img + rng.normal(0, 4, size=(size, size, 1))               # grey noise keeps sat low
    img = np.clip(img, 0, 255)
    # Clamp saturation: pull each pixel toward its own grey if channels drifted apart.
    grey = img.mean(-1, keepdims=True)                               # [H, W, 1]
    spread = (img.max(-1, keepdims=True) - img.min(-1, keepdims=True)).clip(min=1e-6)
    scale = np.minimum(1.0, (BACKGROUND_SAT_MAX - 2) / spread)
    return np.round(grey + (img - grey) * scale).astype(np.uint8)    # [H, W, 3]


def render(layout: tuple[ObjectSpec, ...], rng: np.random.Generator, size: int = 64) -> Scene:
    """Draw a layout: background, then each object jittered inside its cell."""
    img = _background(rng, size).copy()                              # [H, W, 3]
    cell = size / 3
    masks, rgbs = [], []
    for obj in layout:
        r = RADIUS[obj.size] * size / 64
        slack = max(0.0, cell / 2 - r * 1.1 - 1)                     # keep inside the cell
        cx = (obj.col + 0.5) * cell + rng.uniform(-slack, slack)
        cy = (obj.row + 0.5) * cell + rng.uniform(-slack, slack)
        m = draw_mask(obj, cx, cy, size)                             # [H, W]
        rgb = tuple(int(v) for v in np.clip(
            np.array(RGB[obj.colour]) + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, 3), 0, 255))
        img[m] = rgb
        masks.append(m)
        rgbs.append(rgb)
    return Scene(image=img, masks=np.stack(masks), objects=tuple(layout), rgbs=tuple(rgbs))


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """One independent generator per (seed, index): scenes do not depend on batch order."""
    return np.random.default_rng([seed, index])


def scene(seed: int, index: int, n_objects: int | None = None, size: int = 64) -> Scene:
    rng = scene_rng(seed, index)
    return render(sample_layout(rng, n_objects), rng, size)
