"""Glass-box attention: one real head's computation, step by step, checked against the model.

    tr = mi.trace_head("minilm", "The cat sat on the mat.", layer=0, head=3)
    tr.weights, tr.output, tr.max_error            # [query, key], [query, d_model], ~1e-7
    tr = mi.trace_head("miniclip", image=img, tower="image", layer=1, head=0)
    emb = mi.trace_embeddings("minilm", "The cat sat.")   # word + position + segment, summed

One forward runs with hooks on the chosen layer (`capture.layer_io`): they keep the residual
stream before it, the attention's input x and the attention's output. The recomputation is
`explain.head_trace` on the layer's weights (`models.attention_sites`); the model's own
attention probabilities come from the adapter's usual capture in the same forward.
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Callable

import torch

from ..capture.layer_io import capture_layer_io
from ..explain.embedding_trace import RECIPES, embedding_sum
from ..explain.head_trace import attention_mask, layer_steps, max_abs_diff
from ..models import load
from ..models.attention_sites import (ATTENTION_SITES, LayerWeights, n_heads_of,
                                      read_layer_weights, scale_of)
from ..models.arch import tower_key
from ..models.clip_base import CLIPAdapter
from ..types import InputError
from ..types.trace import EmbeddingTrace, HeadTrace
from .images import read_image
from .limits import check_text, limits


@dataclass(frozen=True)
class Tower:
    """One input through one tower of one model, ready to run: where its layers are, how to
    run it once (`forward` returns the model's own attention [layer, head, T, T]), its tokens."""

    adapter: object
    tower: str
    key: str                                     # the ATTENTION_SITES row
    spec: dict
    root: torch.nn.Module
    tokens: list[str]
    causal: bool
    forward: Callable[[], torch.Tensor]
    batch_first: bool = True
    enc: object = None                           # the Encoded text (text towers)
    inputs: dict | None = None                   # token ids {input_ids, ...} or {pixel_values}

    @property
    def blocks(self) -> list[torch.nn.Module]:
        return list(attrgetter(self.spec["blocks"])(self.root))

    def part(self, layer: int, name: str) -> torch.nn.Module | None:
        """The block's module at the spec's path `name` ("pre_norm", "out_hook"), or None."""
        path = self.spec[name]
        return None if path is None else self.blocks[layer].get_submodule(path)

    @property
    def name(self) -> str:
        return self.adapter.name


def _spec(key: str, what: str) -> dict:
    spec = ATTENTION_SITES.get(key)
    if spec is None:
        raise InputError(f"The glass-box attention views know these architectures: "
                         f"{', '.join(ATTENTION_SITES)}; {what} is {key!r}. Choose a model of a "
                         "known family (minilm, a BERT or GPT-2 checkpoint, a CLIP-style model).")
    return spec


def _stack(attentions) -> torch.Tensor:
    return torch.stack([a[0] for a in attentions])                          # [layer, head, T, T]


def _text_tower(adapter, text: str) -> Tower:
    """An HF text adapter (BERT-like, GPT-2...)."""
    if text is None:
        raise InputError(f"{adapter.name} reads text: pass text='...'.")
    check_text(text, limits())
    spec = _spec(adapter.model_type, adapter.name)
    enc = adapter.encode(text)
    causal = adapter.causal if spec["causal"] is None else spec["causal"]
    return Tower(adapter, "text", adapter.model_type, spec, attrgetter(spec["root"])(adapter),
                 list(enc.tokens), bool(causal), lambda: adapter.internals(enc).attentions, enc=enc,
                 inputs=enc.inputs)


def _clip_tower(adapter: CLIPAdapter, text, image, tower: str) -> Tower:
    owner, key = tower_key(adapter, tower)
    if owner is not adapter:                          # a text adapter (mini-CLIP's MiniLM)
        t = _text_tower(owner, text)
        return Tower(adapter, "text", t.key, t.spec, t.root, t.tokens, t.causal, t.forward,
                     enc=t.enc, inputs=t.inputs)
    spec = _spec(key, adapter.name)
    if tower == "text":
        if text is None:
            raise InputError("tower='text' traces the text tower: pass text='a photo of a cat'.")
        enc = adapter.tokenize(text)
        inputs = enc.inputs
        tokens, run = list(enc.tokens), lambda: _stack(adapter.text_forward(enc).layer_attentions)
    else:
        if image is None:
            raise InputError("tower='image' traces the image tower: pass image=... (a PIL image, "
                             "an array or a file path).")
        enc = None
        pixels = adapter.preprocess([read_image(image, "the image")])       # [1, 3, H, W]
        inputs = {"pixel_values": pixels}
        # A placeholder the blocks never compute (SigLIP's [POOL]) is dropped, with any
        # extra layer after the blocks (its pooling head): what the blocks compute remains.
        v = spec.get("virtual_tokens", 0)
        n = len(attrgetter(spec["blocks"])(attrgetter(spec["root"])(adapter)))   # blocks only
        tokens = adapter.patch_grid.token_labels()[v:]
        run = lambda: _stack(adapter.image_forward(pixels).layer_attentions[:n])[:, :, v:, v:]  # noqa: E731
    root = attrgetter(spec["root"])(adapter)
    batch_first = bool(getattr(getattr(root, "transformer", None), "batch_first", True))
    return Tower(adapter, tower, key, spec, root, tokens, bool(spec["causal"]), run,
                 batch_first=batch_first, enc=enc, inputs=inputs)


def resolve_tower(model, text=None, image=None, tower: str | None = None) -> Tower:
    """The model (a name or a loaded adapter) and input as a `Tower`, or an InputError that
    says which arguments this kind of model needs."""
    adapter = load(model) if isinstance(model, str) else model
    if getattr(adapter, "family", None) == "fusion":        # words and patches in one sequence
        from .fusion_trace import fusion_tower
        return Tower(**fusion_tower(adapter, text, image))
    if isinstance(adapter, CLIPAdapter):
        tower = tower or ("image" if image is not None else "text")
        if tower not in ("text", "image"):
            raise InputError(f"tower must be 'text' or 'image', got {tower!r}.")
        return _clip_tower(adapter, text, image, tower)
    if image is not None or tower == "image":
        raise InputError(f"{adapter.name} reads text only; image=... needs a CLIP-style model.")
    if "text" not in adapter.modalities:
        raise InputError(f"{adapter.name} does not read text; choose a text model.")
    return _text_tower(adapter, text)


@dataclass(frozen=True)
class LayerRun:
    """What one forward shows about one layer (batch item 0, [T, ...])."""

    residual: torch.Tensor        # [T, D]
    x: torch.Tensor               # [T, D]
    attn_out: torch.Tensor        # [T, D] the model's own attention output
    attentions: torch.Tensor      # [head, T, T] the model's own attention probabilities
    weights: LayerWeights
    n_heads: int
    scale: float
    mask: torch.Tensor            # bool [T, T]


def check_layer(t: Tower, layer: int) -> int:
    n = len(t.blocks)
    if not isinstance(layer, int) or not 0 <= layer < n:
        raise InputError(f"layer={layer!r}: {t.name}'s {t.tower} tower has layers 0..{n - 1}.")
    return layer


def run_layer(t: Tower, layer: int) -> LayerRun:
    """One forward of the tower with the layer's input and output captured."""
    check_layer(t, layer)
    block = t.blocks[layer]
    with torch.no_grad(), capture_layer_io(block, t.part(layer, "pre_norm"),
                                           t.part(layer, "out_hook")) as io:
        attentions = t.forward()                                            # [layer, head, T, T]

    def item0(a):                                                           # [T, D]
        return a[0] if t.batch_first else a[:, 0]
    x = item0(io["x"])
    w = read_layer_weights(block, t.spec)
    n_heads = n_heads_of(block, t.spec)
    return LayerRun(residual=item0(io["residual"]), x=x, attn_out=item0(io["attn_out"]),
                    attentions=attentions[layer], weights=w, n_heads=n_heads,
                    scale=scale_of(block, t.spec, x.shape[-1] // n_heads),
                    mask=attention_mask(x.shape[0], t.causal, x.device))


def trace_head(model, text: str | None = None, layer: int = 0, head: int = 0, *, image=None,
               tower: str | None = None) -> HeadTrace:
    """Every intermediate of one head (`HeadTrace`), recomputed from the layer's real input
    and weights, with its distance from the model's own attention and attention output.

    Text models: `text` required. CLIP-style models: `tower="image"` with `image=` (PIL, array
    or path), or `tower="text"` with `text=` the prompt (the tower defaults to the image's
    when an image is given)."""
    t = resolve_tower(model, text, image, tower)
    run = run_layer(t, layer)
    if not isinstance(head, int) or not 0 <= head < run.n_heads:
        raise InputError(f"head={head!r}: each layer of {t.name}'s {t.tower} tower has heads "
                         f"0..{run.n_heads - 1}.")
    with torch.no_grad():
        s = layer_steps(run.x, run.weights, run.n_heads, run.scale, run.mask)
    np_ = lambda a: a.detach().cpu().numpy()  # noqa: E731
    return HeadTrace(
        tokens=tuple(t.tokens), layer=layer, head=head, n_heads=run.n_heads, tower=t.tower,
        residual=np_(run.residual), x=np_(run.x), q=np_(s["q"][head]), k=np_(s["k"][head]),
        v=np_(s["v"][head]), scores=np_(s["scores"][head]), scale=run.scale,
        mask=np_(run.mask), weights=np_(s["weights"][head]), context=np_(s["context"][head]),
        output=np_(s["output"][head]), out_bias=np_(run.weights.b_o),
        residual_after=np_(run.residual + s["attn_out"]),
        weights_error=max_abs_diff(s["weights"][head], run.attentions[head]),
        output_error=max_abs_diff(s["attn_out"], run.attn_out),
        norm="pre" if t.spec["pre_norm"] else "post", causal=t.causal, model_name=t.name)


def trace_embeddings(model, text: str | None = None, *, image=None,
                     tower: str | None = None) -> EmbeddingTrace:
    """What enters layer 0 as a sum of parts (`EmbeddingTrace`): word + position (+ segment)
    embeddings for text, patch (+ [CLS]) + position for images, their sum, the sum after the
    embedding LayerNorm where the model has one, and max_error against the model's own
    layer-0 input (captured by a hook in the same kind of forward). Arguments as trace_head."""
    t = resolve_tower(model, text, image, tower)
    run = run_layer(t, 0)
    recipe = t.spec["embeddings"]                     # a recipe's name, or the fusion model's own
    recipe = recipe if callable(recipe) else RECIPES[recipe]
    with torch.no_grad():
        parts, norm = recipe(t.root, t.inputs)
        total, after = embedding_sum(parts, norm)                           # [T, D] each
    np_ = lambda a: a.detach().cpu().numpy()  # noqa: E731
    return EmbeddingTrace(tokens=tuple(t.tokens), tower=t.tower,
                          parts={k: np_(v) for k, v in parts.items()}, total=np_(total),
                          after_norm=np_(after), max_error=max_abs_diff(after, run.residual),
                          model_name=t.name)
