"""Where the heads of a CLIP-style model's towers are, for the causal lab of both towers
(api/causal_clip.py: image, api/causal_clip_text.py: text): the site tables, the hooks that
make open_clip's heads visible, and the checks of the tower, heads and prompt asked for."""
from __future__ import annotations

from contextlib import nullcontext
from operator import attrgetter

from ..capture.open_clip_heads import expose_heads
from ..models.arch import HEAD_SITE_TABLES
from ..types import InputError
from .causal_common import head_sites
from .images import clean_prompts

TOWERS = ("image", "text")
SITE_TABLES = HEAD_SITE_TABLES          # derived from each family's spec (models/arch.py)


def _spec(adapter, tower: str) -> dict[str, str]:
    spec = SITE_TABLES[tower].get(adapter.family)
    if spec is None:
        raise InputError(f"{tower.capitalize()}-tower head ablation knows these families: "
                         f"{', '.join(SITE_TABLES[tower])}; {adapter.name} is {adapter.family}. "
                         "Choose an HF CLIP model, an open_clip ViT or miniclip.")
    return spec


def tower_sites(adapter, tower: str = "image", blocks: bool = False):
    """(the tower's attention output projections, heads per layer); with blocks=True also the
    tower's blocks (their outputs are the residual stream). From SITE_TABLES[tower]."""
    spec = _spec(adapter, tower)
    if "text_adapter" in spec:                  # a text adapter: the families.HEAD_SITES table
        sites = head_sites(attrgetter(spec["text_adapter"])(adapter))
        return ((sites.attention_out, sites.n_heads, sites.blocks) if blocks
                else (sites.attention_out, sites.n_heads))
    root = attrgetter(spec["root"])(adapter)
    layers = list(attrgetter(spec["layers"])(root))
    outs = [root.get_submodule(spec["attention_out"].format(layer=i)) for i in range(len(layers))]
    n_heads = int(attrgetter(spec["heads"])(root))
    return (outs, n_heads, layers) if blocks else (outs, n_heads)


def image_head_sites(adapter, blocks: bool = False):
    """tower_sites of the image tower."""
    return tower_sites(adapter, "image", blocks)


def heads_visible(adapter, tower: str = "image"):
    """A context inside which the tower's heads pass through its hooked output projection:
    open_clip's attention is recomputed (capture/open_clip_heads.py); other families need
    nothing. Enter it around every forward that hooks the heads (or the residual stream, so
    that clean and patched runs compute alike)."""
    spec = _spec(adapter, tower)
    if "expose" not in spec:
        return nullcontext()
    root = attrgetter(spec["root"])(adapter)
    return expose_heads(attrgetter(spec["expose"])(root), f"the {tower} tower")


def check_tower(tower: str) -> None:
    if tower not in TOWERS:
        raise InputError(f"tower={tower!r}: choose the tower whose heads are removed: "
                         f"{' or '.join(repr(t) for t in TOWERS)}.")


def check_pairs(heads, n_layers: int, n_heads: int, tower: str) -> tuple[tuple[int, int], ...]:
    """heads as distinct (layer, head) pairs of the tower, or an InputError naming the ranges."""
    try:
        pairs = tuple(dict.fromkeys((int(a), int(b)) for a, b in heads))
    except (TypeError, ValueError):
        raise InputError(f"heads must be a list of (layer, head) pairs, got {heads!r}.") from None
    bad = [p for p in pairs if not (0 <= p[0] < n_layers and 0 <= p[1] < n_heads)]
    if not pairs or bad:
        raise InputError(f"Name heads of the {tower} tower: layers 0..{n_layers - 1}, heads "
                         f"0..{n_heads - 1}; got {list(pairs) or 'none'}.")
    return pairs


def prompt_index(prompt: str, prompts: list[str], template: str | None) -> int:
    """Where `prompt` is among the cleaned prompts: given as listed, or as typed (before
    the template)."""
    for candidate in (" ".join(str(prompt).split()), *clean_prompts([str(prompt)], template, [])):
        if candidate in prompts:
            return prompts.index(candidate)
    raise InputError(f"prompt={prompt!r} is not among the prompts ({', '.join(prompts)}): "
                     "name one of them.")
