"""Example inputs for the image-text tab: mini-CLIP scenes (with the true mask of each
object, so a map can be checked) and real photos that scikit-image ships (offline); and the
pointing-game table measured on those scenes."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..miniclip.captions import article
from ..miniclip.scenes import COLOURS, SHAPES, scene
from ..types import InputError

EXAMPLE_SEED = 4242          # held out: training draws from data_seed 1, evaluation from 1000
SCENE_INDICES = (0, 1, 2, 3)

# skimage.data function -> (title, prompts); the first prompt is the right one.
PHOTOS = {
    "chelsea": ("photo: Chelsea the cat", ["a cat", "a dog", "a rocket", "a cup of coffee"]),
    "astronaut": ("photo: an astronaut", ["an astronaut", "a cat", "a rocket", "a flower"]),
    "coffee": ("photo: a cup of coffee", ["a cup of coffee", "a cat", "a rocket", "a car"]),
    "rocket": ("photo: a rocket", ["a rocket", "an astronaut", "a cup of coffee", "a tree"]),
}


@dataclass(frozen=True)
class Example:
    title: str
    image: Image.Image
    prompts: list[str]
    template: str | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)   # prompt -> bool [H, W]


def _scene_example(index: int) -> Example:
    s = scene(EXAMPLE_SEED, index, n_objects=2)
    names = [article(f"{o.colour} {o.shape}") for o in s.objects]
    a, b = s.objects
    # two distractors: the same shapes with the colours swapped in, so the map must bind them
    others = [c for c in COLOURS if c not in (a.colour, b.colour)]
    distract = [article(f"{others[0]} {a.shape}"), article(f"{others[1]} {b.shape}")]
    extra = [sh for sh in SHAPES if sh not in (a.shape, b.shape)][:1]
    distract += [article(f"{a.colour} {sh}") for sh in extra]
    return Example(title=f"scene {index + 1}: {names[0]} and {names[1]}", image=s.pil(),
                   prompts=names + distract, masks=dict(zip(names, s.masks)))


def _photo_example(name: str) -> Example:
    import skimage.data  # sample photos bundled with scikit-image (no download)
    title, prompts = PHOTOS[name]
    return Example(title=title, image=Image.fromarray(getattr(skimage.data, name)()),
                   prompts=prompts, template="a photo of {}")


def list_examples() -> list[str]:
    """Titles of the examples, mini-CLIP scenes first."""
    return [_scene_example(i).title for i in SCENE_INDICES] + [t for t, _ in PHOTOS.values()]


def load_example(title: str) -> Example:
    for i in SCENE_INDICES:
        ex = _scene_example(i)
        if ex.title == title:
            return ex
    for name, (t, _) in PHOTOS.items():
        if t == title:
            return _photo_example(name)
    raise InputError(f"Unknown example {title!r}; choose one of: {', '.join(list_examples())}.")


def pointing_results() -> dict | None:
    """The pointing-game table measured on the shipped mini-CLIP (written by
    `python -m mminspect.explain.pointing --json assets/miniclip/pointing.json`), with
    `current` = whether it was measured on the weights shipped now; None if absent."""
    from ..models.miniclip_adapter import MINICLIP_DIR, read_card
    path = MINICLIP_DIR / "pointing.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    record["current"] = record.get("weights_sha256") == read_card(MINICLIP_DIR)["weights"]["sha256"]
    return record
