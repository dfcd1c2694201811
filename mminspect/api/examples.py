"""Example inputs for the image-text tab: mini-CLIP scenes (with the true mask of each
object, so a map can be checked), mini-CLIP 2 scenes of everyday things and shapes on any
background (rendered in advance into assets/miniclip2, so the app needs no emoji font), and
real photos that scikit-image ships (offline); and the pointing-game tables measured on the
bundled models."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ..miniclip.captions import article
from ..miniclip.scenes import COLOURS, SHAPES, scene
from ..models import miniclip_adapter
from ..models.registry import scene_models
from ..models import load
from ..models.assets import optional_files
from ..types import InputError
from .clip import attribute_image, list_image_methods
from .shipped import PROBES, code_staleness, stale_reason

EXAMPLE_SEED = 4242          # held out: training draws from data_seed 1, evaluation from 1000
SCENE_INDICES = (0, 1, 2, 3)
CODE_ROOT = Path(__file__).resolve().parents[2]   # the repository: records name files from here

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
    model: str | None = None     # the bundled model it was made for (picked with it), if any


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


@lru_cache(maxsize=1)
def _world_examples() -> tuple[Example, ...]:
    """mini-CLIP 2's examples as `python -m mminspect.lab.miniclip2_examples` rendered them
    (none when the folder has none)."""
    folder = miniclip_adapter.bundled_dir("bundled:miniclip2")
    if not optional_files(folder, ("examples.json", "examples.npz"), "mini-CLIP 2's example scenes"):
        return ()
    records = json.loads((folder / "examples.json").read_text())["examples"]
    with np.load(folder / "examples.npz") as data:
        images, masks = data["images"], data["masks"]          # [example, H, W, 3], [example, object, H, W]
    return tuple(Example(title=r["title"], image=Image.fromarray(images[i]), prompts=r["prompts"],
                         masks=dict(zip(r["mask_prompts"], masks[i])), model="miniclip2")
                 for i, r in enumerate(records))


def _photo_example(name: str) -> Example:
    import skimage.data  # sample photos bundled with scikit-image (no download)
    title, prompts = PHOTOS[name]
    return Example(title=title, image=Image.fromarray(getattr(skimage.data, name)()),
                   prompts=prompts, template="a photo of {}")


def list_examples() -> list[str]:
    """Titles of the examples: mini-CLIP scenes, mini-CLIP 2 scenes, then photos."""
    return ([_scene_example(i).title for i in SCENE_INDICES]
            + [ex.title for ex in _world_examples()] + [t for t, _ in PHOTOS.values()])


def load_example(title: str) -> Example:
    for i in SCENE_INDICES:
        ex = _scene_example(i)
        if ex.title == title:
            return ex
    for ex in _world_examples():
        if ex.title == title:
            return ex
    for name, (t, _) in PHOTOS.items():
        if t == title:
            return _photo_example(name)
    from .dataset_links import example_from_title, is_scene_title   # a Dataset row's link
    if is_scene_title(title):
        return Example(**example_from_title(title))
    raise InputError(f"Unknown example {title!r}; choose one of: {', '.join(list_examples())}.")


def pointing_results(model: str = "miniclip", wait: bool = True) -> dict | None:
    """The pointing-game table measured on a bundled mini-CLIP ("miniclip", "miniclip2"),
    written by `python -m mminspect.lab.pointing --model <model> --json
    assets/<model>/pointing.json`; None if absent (or for any other model).

    {"results": {method: {"hit_rate", "n", "seconds"}, "chance": float}, "n", "seed",
     "command": how it was run, "params": {method: {parameter: value}} it ran with,
     "current": bool, "stale_reason": str | None, "date": str | None}

    `current` is False when the shipped weights differ from the ones it was measured on, or
    when its figures would change with this code (api.shipped: a source file that produced
    it changed and its recorded probe no longer gives the same figures). wait=False: a
    re-check not yet run goes to the background and `stale_reason` says so."""
    if model not in scene_models():             # only the bundled mini-CLIPs ship one
        return None
    folder = miniclip_adapter.bundled_dir(f"bundled:{model}")
    path = folder / "pointing.json"
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    command = rec.get("command")
    why = []
    shipped = miniclip_adapter.shipped_sha256(model)
    if shipped is None:
        why.append("the model card cannot be read here (missing or damaged), so the weights "
                   "it was measured on cannot be checked")
    elif rec.get("weights_sha256") != shipped:
        why.append(f"measured on other weights (SHA-256 {str(rec.get('weights_sha256'))[:8]}…, "
                   f"shipped {shipped[:8]}…)")
    code = code_staleness(rec, CODE_ROOT, wait)
    why += [code] if code else []
    stale = stale_reason(why, command)
    return {"model": model, "scenes": rec.get("scenes", "shapes"),
            "results": rec["results"], "n": rec.get("n"), "seed": rec.get("seed"),
            "command": command, "params": rec.get("params", {}), "current": not why,
            "stale_reason": stale, "date": rec.get("date")}


def probe_example(model: str) -> tuple[Image.Image, str, np.ndarray]:
    """(image, prompt, mask of what it names): a bundled mini-CLIP's first example, the input
    its shipped tables' probes run on (api.shipped)."""
    ex = _scene_example(0) if scene_models()[model] == "shapes" else _world_examples()[0]
    return ex.image, ex.prompts[0], ex.masks[ex.prompts[0]]


def pointing_probe(model: str) -> dict[str, list[float]]:
    """The pointing table's probe (api.shipped): every image method on the model's first
    example and its first prompt, at default parameters: [sum, sum of |.|, max, argmax,
    pointing hit] of each patch map."""
    adapter = load(model)
    image, prompt, mask = probe_example(model)
    out = {}
    for m in list_image_methods():
        r = attribute_image(adapter, image, prompt, method=m["name"], mask=mask)
        p = np.asarray(r.patch_scores, np.float64)                    # [rows, cols]
        out[m["name"]] = [p.sum(), np.abs(p).sum(), p.max(), float(p.argmax()),
                          float(r.pointing_hit)]
    return out


for _model in scene_models():
    PROBES[f"pointing:{_model}"] = lambda _m=_model: pointing_probe(_m)
