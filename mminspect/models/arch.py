"""One architecture spec per CLIP-style family: every fact about where a family keeps its
towers' parts is written here once, and every site table the explainers read derives from it.

A new CLIP-style family is its adapter (a `CLIPAdapter` with `family = "<name>"`), one
`ArchSpec` below (or `register(ArchSpec(...))`) and its `registry.FAMILIES` entry.

A tower's row (the glass-box row format of `models.attention_sites`, which documents every
key) says where the tower's root is (a path from the ADAPTER), its blocks (from the root),
and inside one block its pre-norm, q/k/v and output projections, head count, scale,
causality, position embedding and embedding recipe. `expose` (optional, from the root): the
transformer whose fused attention must be recomputed so a hook on the output projection sees
the heads (open_clip's nn.MultiheadAttention, capture/open_clip_heads.py). A tower that IS a
text adapter (mini-CLIP's frozen MiniLM) is `text_adapter(attribute)`: its facts are that
adapter's own, keyed by its config's model_type.

Derived here, all live (a family registered later shows in each):
- TOWER_SITES      "<family>/<tower>" -> the tower's row (glass-box traces, LeGrad, Grad-ECLIP)
- HEAD_SITE_TABLES {"image"|"text": {family: head sites}} (causal lab: ablation, patching)
- IMAGE_BLOCKS, TEXT_BLOCKS  family -> the blocks' path from the adapter (sanity checks)
- IMAGE_HEADS      family -> the image tower's output head (LeGrad, Grad-ECLIP)

Hugging Face text models' rows (`TEXT_MODELS`, keyed by config.model_type) are here too, so a
text model's block path is also written once: the glass-box rows (models.attention_sites) and
the causal lab's head sites (models.families.HEAD_SITES) derive from them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter


@dataclass(frozen=True)
class ArchSpec:
    """family: the adapters' `family`; towers: {"image": row, "text": row};
    image_head: the image tower's output head, paths from the adapter: `norm` (the final
    LayerNorm), `proj` (an nn.Linear or a [width, embed] matrix; None: no projection), `pool`
    ("mean": the embedding reads the mean of all tokens, as LeGrad's authors do for CLIP; else
    the path of a pooling module that reads every token) and `pool_attention` (for an
    attention-pooling head: its layout, a key of `explain.grad_eclip.POOLING_HEADS`);
    trained_on: what its pretrained weights saw, in words (api.domain);
    modality: what its models read (the app shows each tab the models it can use)."""

    family: str
    towers: dict[str, dict]
    image_head: dict = field(default_factory=dict)
    trained_on: str | None = None
    modality: str = "image"


def text_adapter(attribute: str) -> dict:
    """A tower that is a text adapter (at `adapter.<attribute>`), not a module of its own."""
    return {"text_adapter": attribute}


# Hugging Face CLIP-style towers (CLIPModel, SiglipModel) share their module names in both
# towers; root, causality and embeddings differ per tower.
_HF_TOWER = {"blocks": "encoder.layers", "pre_norm": "layer_norm1",
             "qkv": ("separate", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
             "out": ("linear", "self_attn.out_proj"), "out_hook": "self_attn.out_proj",
             "heads": "self_attn.num_heads", "scale": "self_attn.scale",
             "position": "embeddings.position_embedding"}
# open_clip's own transformer (nn.MultiheadAttention per block, fused in one call).
_OPEN_CLIP_TOWER = {"blocks": "transformer.resblocks", "pre_norm": "ln_1",
                    "qkv": ("mha", "attn"), "out": ("mha", "attn"), "out_hook": "attn",
                    "heads": "attn.num_heads", "scale": None, "position": None,
                    "expose": "transformer"}
_WEB = "photos and pictures from the web"

ARCHS: dict[str, ArchSpec] = {}


def _add(spec: ArchSpec) -> None:
    ARCHS[spec.family] = spec


_add(ArchSpec("hf_clip", {
    "text": {**_HF_TOWER, "root": "model.text_model", "causal": True,
             "embeddings": "hf_clip_text"},
    "image": {**_HF_TOWER, "root": "model.vision_model", "causal": False,
              "embeddings": "hf_clip_image"}},
    image_head={"norm": "model.vision_model.post_layernorm", "proj": "model.visual_projection",
                "pool": "mean"}, trained_on=_WEB))
# SigLIP: CLIP's module names; bidirectional text; the image tower starts at the patches (no
# [CLS], no pre-LayerNorm) and its captured attentions lead with the [POOL] placeholder. The
# attention-pooling head's heads are no head site (its MHA applies out_proj in one fused call).
_add(ArchSpec("hf_siglip", {
    "text": {**_HF_TOWER, "root": "model.text_model", "causal": False,
             "embeddings": "hf_clip_text"},
    "image": {**_HF_TOWER, "root": "model.vision_model", "causal": False,
              "embeddings": "hf_siglip_image", "virtual_tokens": 1}},
    image_head={"norm": "model.vision_model.post_layernorm", "proj": None,
                "pool": "model.vision_model.head", "pool_attention": "hf_probe"},
    trained_on=_WEB))
# open_clip: the text root is the adapter's `text`: the model itself for "CLIP", its `.text`
# for "CustomTextCLIP" (open_clip_adapter.TEXT_TOWERS).
_add(ArchSpec("open_clip", {
    "text": {**_OPEN_CLIP_TOWER, "root": "text", "causal": True, "embeddings": "open_clip_text"},
    "image": {**_OPEN_CLIP_TOWER, "root": "model.visual", "causal": False,
              "embeddings": "open_clip_image"}},
    image_head={"norm": "model.visual.ln_post", "proj": "model.visual.proj", "pool": "mean"},
    trained_on=_WEB))
# open_clip's SigLIP: open_clip's text tower, bidirectional; the image tower is a timm ViT
# (fused qkv, no [CLS]; its proj is called as a module even on the fused path, so nothing
# needs exposing), captured with the [POOL] placeholder (models/open_clip_siglip.py).
_add(ArchSpec("open_clip_siglip", {
    "text": {**_OPEN_CLIP_TOWER, "root": "text", "causal": False,
             "embeddings": "open_clip_text"},
    "image": {"root": "model.visual.trunk", "blocks": "blocks", "pre_norm": "norm1",
              "qkv": ("linear", "attn.qkv"), "out": ("linear", "attn.proj"),
              "out_hook": "attn.proj", "heads": "attn.num_heads", "scale": "attn.scale",
              "causal": False, "position": None, "embeddings": "timm_vit_image",
              "virtual_tokens": 1}},
    image_head={"norm": "model.visual.trunk.norm", "proj": None,
                "pool": "model.visual.trunk.attn_pool", "pool_attention": "timm_latent"},
    trained_on=_WEB))
# mini-CLIP: its text tower is the bundled MiniLM, a text adapter (frozen, shared).
_add(ArchSpec("miniclip", {
    "text": text_adapter("text"),
    "image": {"root": "model.visual", "blocks": "blocks", "pre_norm": "ln1",
              "qkv": ("linear", "attn.qkv"), "out": ("linear", "attn.proj"),
              "out_hook": "attn.proj", "heads": "attn.heads", "scale": None, "causal": False,
              "position": None, "embeddings": "miniclip_image"}},
    image_head={"norm": "model.visual.ln_f", "proj": "model.visual.proj", "pool": "mean"}))


# Hugging Face text models, keyed by config.model_type; paths from the adapter (root) and from
# the base model's root (blocks) and one block (the rest), as the CLIP towers' rows.
# A full row (with qkv: the glass-box trace) documents every key in models/attention_sites.py;
# a row with only root, blocks and out serves head ablation and patching (the causal lab). ALBERT is
# absent on purpose: its layers share weights, so a path names every layer at once.
_BERT = {"root": "model.base_model", "blocks": "encoder.layer", "pre_norm": None,
         "qkv": ("separate", "attention.self.query", "attention.self.key", "attention.self.value"),
         "out": ("linear", "attention.output.dense"), "out_hook": "attention.output.dense",
         "heads": "attention.self.num_attention_heads", "scale": "attention.self.scaling",
         "causal": None, "position": "embeddings.position_embeddings", "embeddings": "bert"}
_DECODER = {"root": "model.base_model", "blocks": "layers", "out": ("linear", "self_attn.o_proj")}
TEXT_MODELS: dict[str, dict] = {
    "bert": _BERT,
    "roberta": _BERT,
    "electra": _BERT,
    "xlm-roberta": {k: _BERT[k] for k in ("root", "blocks", "out")},
    "mpnet": {"root": "model.base_model", "blocks": "encoder.layer",
              "out": ("linear", "attention.attn.o")},
    "distilbert": {"root": "model.base_model", "blocks": "transformer.layer", "pre_norm": None,
                   "qkv": ("separate", "attention.q_lin", "attention.k_lin", "attention.v_lin"),
                   "out": ("linear", "attention.out_lin"), "out_hook": "attention.out_lin",
                   "heads": "attention.n_heads", "scale": "attention.scaling", "causal": None,
                   "position": "embeddings.position_embeddings", "embeddings": "distilbert"},
    "gpt2": {"root": "model.base_model", "blocks": "h", "pre_norm": "ln_1",
             "qkv": ("conv1d", "attn.c_attn"), "out": ("conv1d", "attn.c_proj"),
             "out_hook": "attn.c_proj", "heads": "attn.num_heads", "scale": "attn.scaling",
             "causal": None, "position": "wpe", "embeddings": "gpt2"},
    "gpt_neox": {**_DECODER, "out": ("linear", "attention.dense")},
    "llama": _DECODER,
    "mistral": _DECODER,
    "qwen2": _DECODER,
}

# Chinese-CLIP (transformers' ChineseCLIPModel): a BERT text tower (bidirectional, read at
# [CLS]) and CLIP's ViT image tower under other class names (models/hf_chinese_clip.py).
_add(ArchSpec("hf_chinese_clip", {
    "text": {**_BERT, "root": "model.text_model", "causal": False},
    "image": {**_HF_TOWER, "root": "model.vision_model", "causal": False,
              "embeddings": "hf_clip_image"}},
    image_head={"norm": "model.vision_model.post_layernorm", "proj": "model.visual_projection",
                "pool": "mean"}, trained_on=_WEB))


# LLaVA (LlavaForConditionalGeneration): a CLIP or SigLIP vision tower (the same module names)
# whose patches become image tokens INSIDE a decoder language model's sequence (Llama, Qwen2:
# rotary positions, grouped key/value heads). models/hf_vlm.py reads its blocks from here.
_add(ArchSpec("hf_llava", {
    "image": {**_HF_TOWER, "root": "model.model.vision_tower", "causal": False,
              "embeddings": "hf_clip_image"},
    "text": {"root": "model.model.language_model", "blocks": "layers",
             "out": ("linear", "self_attn.o_proj"), "heads": "self_attn.config.num_attention_heads"}},
    modality="vlm"))


def out_projection(row: dict) -> str:
    """The path, from a block, of the output projection whose INPUT is the heads' contexts."""
    kind, path = row["out"]
    return f"{path}.out_proj" if kind == "mha" else path


def head_sites(row: dict) -> dict:
    """A tower row as the causal lab's head sites (paths from the tower's root)."""
    if "text_adapter" in row:
        return dict(row)
    blocks = row["blocks"]
    site = {"root": row["root"], "layers": blocks, "heads": f"{blocks}.0.{row['heads']}",
            "attention_out": f"{blocks}.{{layer}}.{out_projection(row)}"}
    return {**site, "expose": row["expose"]} if row.get("expose") else site


TOWER_SITES: dict[str, dict] = {}
HEAD_SITE_TABLES: dict[str, dict[str, dict]] = {"image": {}, "text": {}}
IMAGE_BLOCKS: dict[str, str] = {}
TEXT_BLOCKS: dict[str, str] = {}
IMAGE_HEADS: dict[str, dict] = {}
_BLOCKS = {"image": IMAGE_BLOCKS, "text": TEXT_BLOCKS}


def register(spec: ArchSpec) -> None:
    """Add (or replace) a family's spec and every table derived from it."""
    _add(spec)
    for tower, row in spec.towers.items():
        HEAD_SITE_TABLES[tower][spec.family] = head_sites(row)
        if "text_adapter" not in row:
            TOWER_SITES[f"{spec.family}/{tower}"] = row
            _BLOCKS[tower][spec.family] = f"{row['root']}.{row['blocks']}"
    if spec.image_head:
        IMAGE_HEADS[spec.family] = spec.image_head


def unregister(family: str) -> None:
    """Remove a family and its derived rows (tests that register a tiny family)."""
    spec = ARCHS.pop(family)
    for tower in spec.towers:
        HEAD_SITE_TABLES[tower].pop(family, None)
        TOWER_SITES.pop(f"{family}/{tower}", None)
        _BLOCKS[tower].pop(family, None)
    IMAGE_HEADS.pop(family, None)


for _spec in list(ARCHS.values()):
    register(_spec)


def text_head_sites(row: dict) -> dict:
    """A text model's row as the causal lab's head sites, paths from its root (the adapter's
    base model): attention_out (the projection whose INPUT is the heads' contexts side by
    side), block (whose OUTPUT is the residual stream)."""
    blocks = f"{row['blocks']}.{{layer}}"
    return {"root": row["root"], "attention_out": f"{blocks}.{out_projection(row)}",
            "block": blocks}


def tower_key(adapter, tower: str):
    """(the object the tower's row starts from, the row's key): the adapter and
    "<family>/<tower>", or, for a tower that is a text adapter, that adapter and its
    config's model_type (its row is a text model's: models.attention_sites)."""
    spec = ARCHS.get(getattr(adapter, "family", ""))
    row = None if spec is None else spec.towers.get(tower, {})
    if row and "text_adapter" in row:
        owner = attrgetter(row["text_adapter"])(adapter)
        return owner, owner.model_type
    return adapter, f"{getattr(adapter, 'family', '')}/{tower}"


def modality(family: str) -> str:
    """What a family's models read: "image" (a CLIP-style spec here) or "text"."""
    spec = ARCHS.get(family)
    return "text" if spec is None else spec.modality
