"""Where one layer's attention lives, and how its weights are laid out, per family, as data
(the glass-box counterpart of `families.HEAD_SITES` and `image_heads.IMAGE_HEAD_SITES`).

Keyed by `config.model_type` for Hugging Face text models, and by "<family>/<tower>" for
CLIP-style towers (mini-CLIP's text tower is the bundled MiniLM: the "bert" row).

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

from dataclasses import dataclass
from operator import attrgetter

import torch

_BERT = {"root": "model.base_model", "blocks": "encoder.layer", "pre_norm": None,
         "qkv": ("separate", "attention.self.query", "attention.self.key", "attention.self.value"),
         "out": ("linear", "attention.output.dense"), "out_hook": "attention.output.dense",
         "heads": "attention.self.num_attention_heads", "scale": "attention.self.scaling",
         "causal": None, "position": "embeddings.position_embeddings", "embeddings": "bert"}
# Hugging Face CLIP-style towers (CLIPModel, SiglipModel): the same module names in both
# towers; root, causal and embeddings differ per entry.
_HF_CLIP_TOWER = {"blocks": "encoder.layers", "pre_norm": "layer_norm1",
                  "qkv": ("separate", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
                  "out": ("linear", "self_attn.out_proj"), "out_hook": "self_attn.out_proj",
                  "heads": "self_attn.num_heads", "scale": "self_attn.scale",
                  "position": "embeddings.position_embedding"}

ATTENTION_SITES: dict[str, dict] = {
    "bert": _BERT,
    "roberta": _BERT,
    "electra": _BERT,
    "distilbert": {"root": "model.base_model", "blocks": "transformer.layer", "pre_norm": None,
                   "qkv": ("separate", "attention.q_lin", "attention.k_lin", "attention.v_lin"),
                   "out": ("linear", "attention.out_lin"), "out_hook": "attention.out_lin",
                   "heads": "attention.n_heads", "scale": "attention.scaling", "causal": None,
                   "position": "embeddings.position_embeddings", "embeddings": "distilbert"},
    "gpt2": {"root": "model.base_model", "blocks": "h", "pre_norm": "ln_1",
             "qkv": ("conv1d", "attn.c_attn"),
             "out": ("conv1d", "attn.c_proj"), "out_hook": "attn.c_proj",
             "heads": "attn.num_heads", "scale": "attn.scaling", "causal": None,
             "position": "wpe", "embeddings": "gpt2"},
    "hf_clip/text": {**_HF_CLIP_TOWER, "root": "model.text_model", "causal": True,
                     "embeddings": "hf_clip_text"},
    "hf_clip/image": {**_HF_CLIP_TOWER, "root": "model.vision_model", "causal": False,
                      "embeddings": "hf_clip_image"},
    # SigLIP: CLIP's module names; bidirectional text; the image tower starts at the patches
    # (no [CLS], no pre-LayerNorm) and its captured attentions lead with the [POOL] placeholder.
    "hf_siglip/text": {**_HF_CLIP_TOWER, "root": "model.text_model", "causal": False,
                       "embeddings": "hf_clip_text"},
    "hf_siglip/image": {**_HF_CLIP_TOWER, "root": "model.vision_model", "causal": False,
                        "embeddings": "hf_siglip_image", "virtual_tokens": 1},
    "open_clip/text": {"root": "text", "blocks": "transformer.resblocks", "pre_norm": "ln_1",
                       "qkv": ("mha", "attn"), "out": ("mha", "attn"), "out_hook": "attn",
                       "heads": "attn.num_heads", "scale": None, "causal": True,
                       "position": None, "embeddings": "open_clip_text"},
    "open_clip/image": {"root": "model.visual", "blocks": "transformer.resblocks",
                        "pre_norm": "ln_1",
                        "qkv": ("mha", "attn"), "out": ("mha", "attn"), "out_hook": "attn",
                        "heads": "attn.num_heads", "scale": None, "causal": False,
                        "position": None, "embeddings": "open_clip_image"},
    # open_clip's SigLIP: its text tower is open_clip's, bidirectional; its image tower a timm
    # ViT (fused qkv, no [CLS]), captured with the [POOL] placeholder (models/open_clip_siglip).
    "open_clip_siglip/text": {"root": "text", "blocks": "transformer.resblocks", "pre_norm": "ln_1",
                              "qkv": ("mha", "attn"), "out": ("mha", "attn"), "out_hook": "attn",
                              "heads": "attn.num_heads", "scale": None, "causal": False,
                              "position": None, "embeddings": "open_clip_text"},
    "open_clip_siglip/image": {"root": "model.visual.trunk", "blocks": "blocks", "pre_norm": "norm1",
                               "qkv": ("linear", "attn.qkv"), "out": ("linear", "attn.proj"),
                               "out_hook": "attn.proj", "heads": "attn.num_heads",
                               "scale": "attn.scale", "causal": False, "position": None,
                               "embeddings": "timm_vit_image", "virtual_tokens": 1},
    "miniclip/image": {"root": "model.visual", "blocks": "blocks", "pre_norm": "ln1",
                       "qkv": ("linear", "attn.qkv"),
                       "out": ("linear", "attn.proj"), "out_hook": "attn.proj",
                       "heads": "attn.heads", "scale": None, "causal": False,
                       "position": None, "embeddings": "miniclip_image"},
}


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
