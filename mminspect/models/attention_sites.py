"""Where one layer's attention lives, and how its weights are laid out, per family, as data
(the glass-box counterpart of `families.HEAD_SITES` and `arch.HEAD_SITE_TABLES`).

Keyed by `config.model_type` for Hugging Face text models and by "<family>/<tower>" for
CLIP-style towers; every row is written once in models/arch.py (`TEXT_MODELS`, each family's
`ArchSpec`; mini-CLIP's text tower is the bundled MiniLM: the "bert" row). The keys:

root:      the tower's root module, an attribute path from the ADAPTER; every other path is
           from the root (blocks, position) or from one block (the rest).

blocks:    the ModuleList of layers; a block's INPUT is the residual stream before it.
pre_norm:  the LayerNorm whose output is the attention's input x (pre-LN); None for post-LN
           models (BERT), whose attention reads the residual stream itself.
qkv:       ("separate", q, k, v): three nn.Linear; ("linear", path): one nn.Linear of width
           3·D (q, k, v side by side); ("conv1d", path): GPT-2's Conv1D, weight [in, 3·D];
           ("mha", path): nn.MultiheadAttention's in_proj_weight [3·D, D].
out:       (kind, path) of the output projection: "linear" | "conv1d" | "mha" (out_proj).
out_hook:  the module whose forward OUTPUT (first item of a tuple) is the attention output,
           sum of every head's output plus the output bias: what the trace is checked against
           and what "break it on purpose" replaces.
heads:     attribute path (from the block) of the head count.
scale:     attribute path of the factor applied to q·kᵀ; None: 1/sqrt(d_head).
causal:    True / False, or None: ask the adapter (`adapter.causal`).
position:  the module whose output is the position embedding added to the tokens (zeroed by
           the "position embeddings left out" mistake); None where it is a bare parameter.
embeddings: the recipe name in `explain.embedding_trace.RECIPES`.
virtual_tokens: optional, how many leading tokens of the adapter's captured attentions the
           blocks never compute (SigLIP's [POOL] placeholder, models/hf_siglip.py): the trace
           drops them before comparing with its recomputation.
"""
from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter

import torch

from .arch import TEXT_MODELS, TOWER_SITES

# Text models with every glass-box key (models.arch.TEXT_MODELS has the head-sites-only too).
_TEXT_MODELS = {k: row for k, row in TEXT_MODELS.items() if "qkv" in row}
# Text models' rows, then every CLIP-style tower's, derived from its family's spec (a live
# view: a family registered later is found too).
ATTENTION_SITES: Mapping[str, dict] = ChainMap(_TEXT_MODELS, TOWER_SITES)


@dataclass(frozen=True)
class LayerWeights:
    """One layer's attention weights, oriented for `x @ W + b` (x [token, D]):
    W_q, W_k, W_v [D, D] (head h is columns h·d:(h+1)·d), W_o [D, D] (head h is rows
    h·d:(h+1)·d), biases [D] (zeros where the layer has none). Detached views that share the
    parameters' storage: never modify them in place (check_attention hands user code clones)."""

    W_q: torch.Tensor
    b_q: torch.Tensor
    W_k: torch.Tensor
    b_k: torch.Tensor
    W_v: torch.Tensor
    b_v: torch.Tensor
    W_o: torch.Tensor
    b_o: torch.Tensor

    def as_args(self) -> tuple[torch.Tensor, ...]:
        """(W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o): the order attention functions take."""
        return (self.W_q, self.b_q, self.W_k, self.b_k, self.W_v, self.b_v, self.W_o, self.b_o)


def _bias(b: torch.Tensor | None, width: int, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros(width, dtype=like.dtype, device=like.device) if b is None else b


def _linear(m: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.Linear keeps weight [out, in] for x @ weight.T: transpose to [in, out]."""
    w = m.weight.detach().T                                               # [in, out]
    return w, _bias(None if m.bias is None else m.bias.detach(), w.shape[1], w)


def _fused(w: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
    """[in, 3·D] and [3·D] -> [W_q, b_q, W_k, b_k, W_v, b_v]: q, k, v are cut along the
    FEATURES (columns), never along the tokens."""
    ws, bs = w.chunk(3, dim=1), b.chunk(3)                                # each [in, D], [D]
    return [t for pair in zip(ws, bs) for t in pair]


def read_layer_weights(block: torch.nn.Module, spec: dict) -> LayerWeights:
    """The block's attention weights as `LayerWeights`, whatever the family's layout."""
    kind, *paths = spec["qkv"]
    if kind == "separate":
        qkv = [t for p in paths for t in _linear(block.get_submodule(p))]
    elif kind == "linear":                                                # weight [3·D, in]
        qkv = _fused(*_linear(block.get_submodule(paths[0])))
    elif kind == "conv1d":                                                # weight [in, 3·D]
        m = block.get_submodule(paths[0])
        qkv = _fused(m.weight.detach(), m.bias.detach())
    elif kind == "mha":                                                   # in_proj_weight [3·D, D]
        m = block.get_submodule(paths[0])
        w = m.in_proj_weight.detach().T                                   # [D, 3·D]
        b = None if m.in_proj_bias is None else m.in_proj_bias.detach()
        qkv = _fused(w, _bias(b, w.shape[1], w))
    else:
        raise ValueError(f"unknown qkv layout {kind!r}")
    out_kind, out_path = spec["out"]
    m = block.get_submodule(out_path)
    if out_kind == "conv1d":
        w_o, b_o = m.weight.detach(), m.bias.detach()                     # [D, D], [D]
    else:
        w_o, b_o = _linear(m.out_proj if out_kind == "mha" else m)
    return LayerWeights(*qkv, w_o, b_o)


def n_heads_of(block: torch.nn.Module, spec: dict) -> int:
    return int(attrgetter(spec["heads"])(block))


def scale_of(block: torch.nn.Module, spec: dict, d_head: int) -> float:
    """The factor on q·kᵀ: the module's own where it keeps one, else 1/sqrt(d_head)."""
    if spec["scale"]:
        return float(attrgetter(spec["scale"])(block))
    return d_head ** -0.5
