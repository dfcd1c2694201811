"""mini-CLIP 2's world: coloured shapes and everyday objects on any background, with exact
masks of what is visible.

What changes from `scenes.py`: mini-CLIP 1 learnt "colour = the saturated pixels"
because its backgrounds were never saturated and objects sat in a 3x3 grid. Here:
- backgrounds of any hue, saturation and brightness: flat, gradient, noise, stripes,
  checkers or blotches;
- 1-4 objects of continuous size, anywhere, touching or overlapping (a later one hides part
  of an earlier one); each mask is the object's *visible* pixels, and every object keeps at
  least `MIN_VISIBLE` of its own area (else the layout is drawn again);
- an object is a coloured shape (the 5 shapes x 6 colours of mini-CLIP 1) or an everyday
  object (64 emoji in 6 groups, `everyday.py`);
- a shape's colour always differs from the background under it (`MIN_CONTRAST` in RGB), so
  "a red circle" stays true of the picture.

`world_scene(seed, index)` seeds one generator per (seed, index), like `scenes.scene`.
Positions for captions: the 3x3 region of the visible mask's centre of mass.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from . import everyday
from .scenes import COLOURS, RGB, SHAPES, _polygon, scene_rng

BACKGROUNDS = ("flat", "gradient", "noise", "stripes", "checkers", "blotches")
SIZE_RANGE = (0.16, 0.45)       # an object's longer side, as a fraction of the image side
N_OBJECTS_P = (0.35, 0.3, 0.2, 0.15)     # 1, 2, 3, 4 objects
P_EVERYDAY = 0.5                # an object is an emoji thing rather than a shape
MIN_VISIBLE = 0.5               # share of an object's own pixels that must stay visible
MIN_CONTRAST = 90.0             # RGB distance between a shape's colour and the background under it
COLOUR_JITTER = 18


@dataclass(frozen=True)
class Thing:
    """One object. kind: "shape" or "everyday"; name: the shape ("star") or the everyday
    object's name ("bicycle"); colour: a shape's colour word (None for everyday objects);
    emoji: the character drawn (everyday); size: longer side / image side; cx, cy: centre,
    fractions of the image; region: (row, col) of the visible mask's centre of mass."""

    kind: str
    name: str
    colour: str | None
    emoji: str | None
    size: float
    cx: float
    cy: float
    region: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class WorldScene:
    """image: uint8 [H, W, 3]; masks: bool [object, H, W], the visible pixels of each;
    things: what each object is; background: its kind; tinted: True when the background's
    mean saturation is high (the condition mini-CLIP 1 failed on)."""

    image: np.ndarray
    masks: np.ndarray
    things: tuple[Thing, ...]
    background: str
    tinted: bool

    def pil(self) -> Image.Image:
        return Image.fromarray(self.image)


def background(rng: np.random.Generator, size: int, kind: str | None = None) -> np.ndarray:
    """float [H, W, 3] in 0..255: two random colours (any hue, saturation, brightness) laid
    out as `kind`."""
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))] if kind is None else kind
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)                 # [3] each
    y, x = np.mgrid[0:size, 0:size] / size                                # [H, W] each
    if kind == "flat":
        t = np.zeros((size, size))
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        t = (np.cos(angle) * x + np.sin(angle) * y)
        t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    elif kind == "noise":
        coarse = rng.random((4, 4))
        t = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize(
            (size, size), Image.BICUBIC)) / 255.0
    elif kind == "stripes":
        angle, period = rng.uniform(0, np.pi), rng.uniform(0.1, 0.3)
        t = ((np.cos(angle) * x + np.sin(angle) * y) / period % 1.0) < 0.5
    elif kind == "checkers":
        k = rng.integers(3, 9)
        t = ((np.floor(x * k) + np.floor(y * k)) % 2).astype(float)
    else:                                                                 # blotches
        t = np.zeros((size, size))
        for _ in range(rng.integers(3, 7)):
            cx, cy, r = rng.random(), rng.random(), rng.uniform(0.08, 0.25)
            t[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = 1.0
    img = a + (b - a) * np.asarray(t, dtype=float)[..., None]             # [H, W, 3]
    return np.clip(img + rng.normal(0, 4, (size, size, 1)), 0, 255)


def _shape_layer(thing: Thing, size: int) -> np.ndarray:
    """bool [H, W]: the shape's pixels (no anti-aliasing)."""
    m = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(m)
    cx, cy, r = thing.cx * size, thing.cy * size, thing.size * size / 2
    if thing.name == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        d.polygon(_polygon(thing.name, cx, cy, r / 1.1), fill=255)     # the star's tips reach 1.1 r
    return np.asarray(m) > 0


def _emoji_layer(thing: Thing, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(bool [H, W] coverage, uint8 [H, W, 3] colours) of the everyday object, placed."""
    s = everyday.scaled(thing.emoji, max(2, round(thing.size * size)))    # [h, w, 4]
    h, w = s.shape[:2]
    top, left = round(thing.cy * size - h / 2), round(thing.cx * size - w / 2)
    cover, rgb = np.zeros((size, size), bool), np.zeros((size, size, 3), np.uint8)
    ys, xs = slice(max(top, 0), min(top + h, size)), slice(max(left, 0), min(left + w, size))
    sub = s[ys.start - top: ys.stop - top, xs.start - left: xs.stop - left]
    cover[ys, xs] = sub[..., 3] > 127
    rgb[ys, xs] = sub[..., :3]
    return cover, rgb


def _sample_thing(rng: np.random.Generator, p_everyday: float = P_EVERYDAY) -> Thing:
    size = rng.uniform(*SIZE_RANGE)
    cx, cy = rng.uniform(size / 2, 1 - size / 2, 2)                        # inside the frame
    if rng.random() < p_everyday:
        e = everyday.all_emoji()[rng.integers(len(everyday.all_emoji()))]
        return Thing("everyday", everyday.name_of(e), None, e, size, cx, cy)
    return Thing("shape", SHAPES[rng.integers(len(SHAPES))],
                 COLOURS[rng.integers(len(COLOURS))], None, size, cx, cy)


def _region(mask: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(mask)
    size = mask.shape[0]
    return (min(int(ys.mean() * 3 / size), 2), min(int(xs.mean() * 3 / size), 2))


def render_world(rng: np.random.Generator, size: int = 64, n_objects: int | None = None,
                 tries: int = 50, p_everyday: float = P_EVERYDAY) -> WorldScene:
    """Draw a background and 1-4 objects. Objects that two captions could not tell apart
    (same name and colour) are not drawn together; a layout that hides too much of an
    object, or puts a shape on a background of its own colour, is drawn again."""
    n = int(rng.choice(4, p=N_OBJECTS_P)) + 1 if n_objects is None else n_objects
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    for _ in range(tries):
        bg = background(rng, size, kind)                                   # [H, W, 3]
        things: list[Thing] = []
        while len(things) < n:
            t = _sample_thing(rng, p_everyday)
            if not any(o.name == t.name and o.colour == t.colour for o in things):
                things.append(t)
        img, owner, full, ok = bg.copy(), np.full((size, size), -1), [], True
        for i, t in enumerate(things):                                     # back to front
            if t.kind == "shape":
                cover = _shape_layer(t, size)
                base = np.array(RGB[t.colour]) + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, 3)
                if cover.any() and np.linalg.norm(bg[cover].mean(0) - base) < MIN_CONTRAST:
                    ok = False                          # a red star on red: not drawable
                img[cover] = np.clip(base, 0, 255)
            else:
                cover, rgb = _emoji_layer(t, size)
                img[cover] = rgb[cover]
            owner[cover] = i
            full.append(int(cover.sum()))
        masks = np.stack([owner == i for i in range(n)])                   # [object, H, W]
        visible = masks.reshape(n, -1).sum(1)
        if ok and all(v >= MIN_VISIBLE * max(f, 1) and v > 0 for v, f in zip(visible, full)):
            things = [Thing(t.kind, t.name, t.colour, t.emoji, t.size, t.cx, t.cy, _region(m))
                      for t, m in zip(things, masks)]
            sat = (bg.max(-1) - bg.min(-1)).mean()
            return WorldScene(np.round(img).astype(np.uint8), masks, tuple(things), kind,
                              bool(sat > 60))
    raise RuntimeError(f"no drawable layout of {n} objects in {tries} tries")


def swap_pair(things: tuple[Thing, ...]) -> tuple[int, int] | None:
    """Indices of the first two shapes of different colours and names (whose colours can be
    exchanged to make a scene a caption gets wrong), or None."""
    shapes = [i for i, t in enumerate(things) if t.kind == "shape"]
    for n, i in enumerate(shapes):
        for j in shapes[n + 1:]:
            if things[i].colour != things[j].colour and things[i].name != things[j].name:
                return i, j
    return None


def colour_swapped(s: WorldScene, ring: int = 2) -> WorldScene | None:
    """The same scene with the colours of `swap_pair`'s two shapes exchanged, pixel for pixel
    through their exact masks (shapes are flat colour): a picture that every caption of `s`
    naming both shapes gets wrong. None when there is no pair, or when a new colour would
    sit on a background too close to it (`MIN_CONTRAST`, judged on the background pixels
    within `ring` pixels of the shape)."""
    pair = swap_pair(s.things)
    if pair is None:
        return None
    i, j = pair
    colour = {i: s.image[s.masks[i]][0], j: s.image[s.masks[j]][0]}     # [3] each, flat
    anywhere = s.masks.any(0)                                            # [H, W]
    img = s.image.copy()
    for here, there in ((i, j), (j, i)):
        near = s.masks[here]
        for _ in range(ring):                                           # grow by one pixel
            near = near | np.roll(near, 1, 0) | np.roll(near, -1, 0) | np.roll(near, 1, 1) | np.roll(near, -1, 1)
        bg = near & ~anywhere
        if bg.any() and np.linalg.norm(s.image[bg].mean(0) - colour[there]) < MIN_CONTRAST:
            return None
        img[s.masks[here]] = colour[there]
    things = list(s.things)
    things[i] = replace(things[i], colour=s.things[j].colour)
    things[j] = replace(things[j], colour=s.things[i].colour)
    return WorldScene(img, s.masks, tuple(things), s.background, s.tinted)


def world_scene(seed: int, index: int, size: int = 64, n_objects: int | None = None) -> WorldScene:
    """Scene `index` of stream `seed`: the same whatever else was drawn."""
    return render_world(scene_rng(seed, index), size, n_objects)
