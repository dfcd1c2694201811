"""Tiny random CLIP-style models, built and saved locally for the CLIP adapter tests
(what a hub checkpoint looks like, without the download)."""
from __future__ import annotations

import json

WORDS = ["a", "photo", "of", "the", "cat", "dog", "red", "blue", "square", "circle", "on", "left"]


def byte_chars() -> list[str]:
    """CLIP-BPE's printable stand-ins for the 256 bytes (GPT-2's bytes_to_unicode)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    return list(bytes_to_unicode().values())


def tiny_bpe(words=WORDS) -> tuple[dict[str, int], list[str]]:
    """A CLIP-BPE vocabulary (every byte, alone and word-final, plus whole words) and merges."""
    chars = byte_chars()
    vocab = chars + [c + "</w>" for c in chars]
    merges: list[str] = []
    for w in words:
        parts = list(w[:-1]) + [w[-1] + "</w>"]
        while len(parts) > 1:                      # merge left to right: c a -> ca, ca t</w> ...
            merge, joined = f"{parts[0]} {parts[1]}", parts[0] + parts[1]
            if merge not in merges:
                merges.append(merge)
            if joined not in vocab:
                vocab.append(joined)
            parts = [joined] + parts[2:]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(vocab)}, merges


def build_tiny_hf_clip(folder, seed: int = 0, image_size: int = 32, patch: int = 8):
    """A random CLIPModel (2 layers, 4 heads per tower) + tokenizer + image processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = tiny_bpe()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tok = CLIPTokenizer(vocab=vocab, merges=[tuple(m.split()) for m in merges], model_max_length=32)
    tok.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": image_size},
                       crop_size={"height": image_size, "width": image_size}).save_pretrained(folder)
    bos, eos = vocab["<|startoftext|>"], vocab["<|endoftext|>"]
    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    cfg = CLIPConfig(
        text_config=dict(tower, vocab_size=len(vocab), max_position_embeddings=32,
                         bos_token_id=bos, eos_token_id=eos, pad_token_id=eos),
        vision_config=dict(tower, image_size=image_size, patch_size=patch),
        projection_dim=16)
    torch.manual_seed(seed)
    CLIPModel(cfg).eval().save_pretrained(folder)
    return folder


def build_tiny_hf_siglip(folder, seed: int = 0, image_size: int = 32, patch: int = 8,
                         max_tokens: int = 16):
    """A random SiglipModel (2 layers, 4 heads per tower, attention-pooling head) + a
    SentencePiece-style fast tokenizer ("▁" word pieces, "</s>" end and pad, no start token,
    like google/siglip-*) + a SiglipImageProcessor. logit scale 10 and bias -3, so the
    sigmoid chain is not the identity."""
    import math

    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, SiglipConfig, SiglipImageProcessor, SiglipModel

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in WORDS + ["dog", "big", "small", "green"]:
        vocab.setdefault("▁" + w, len(vocab))
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tk.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tk.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="</s>", pad_token="</s>",
                            unk_token="<unk>", model_max_length=max_tokens).save_pretrained(folder)
    SiglipImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(folder)
    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    cfg = SiglipConfig(
        text_config=dict(tower, vocab_size=len(vocab), max_position_embeddings=max_tokens,
                         projection_size=32, pad_token_id=1, eos_token_id=1, bos_token_id=1),
        vision_config=dict(tower, image_size=image_size, patch_size=patch))
    torch.manual_seed(seed)
    model = SiglipModel(cfg).eval()
    with torch.no_grad():
        model.logit_scale.fill_(math.log(10.0))
        model.logit_bias.fill_(-3.0)
    model.save_pretrained(folder)
    return folder


def tiny_hf_siglip_dir(tmp_path_factory):
    if "hf_siglip" not in _BUILT:
        _BUILT["hf_siglip"] = build_tiny_hf_siglip(tmp_path_factory.mktemp("tiny_hf_siglip"))
    return _BUILT["hf_siglip"]


TINY_OPEN_CLIP = {  # an open_clip model config: 2-layer towers, 32x32 images, 8x8 patches
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 8, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 2},
}


def register_tiny_open_clip(folder, name: str = "mminspect-tiny-vit", **vision_overrides) -> str:
    """Add a tiny architecture to open_clip's config registry, so that
    "open_clip:<name>/random" loads it like a built-in one."""
    import open_clip

    cfg = json.loads(json.dumps(TINY_OPEN_CLIP))
    cfg["vision_cfg"].update(vision_overrides)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(cfg))
    open_clip.add_model_config(path)
    return name


TINY_OPEN_CLIP_SIGLIP = {  # open_clip's SigLIP layout: timm ViT + "map" pooling, bidirectional text
    "embed_dim": 32, "init_logit_bias": -3, "custom_text": True,
    "vision_cfg": {"image_size": 32, "timm_model_name": "mminspect_tiny_map_vit",
                   "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none"},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 2,
                 "no_causal_mask": True, "proj_bias": True, "pool_type": "last",
                 "norm_kwargs": {"eps": 1e-6}},
}


def register_tiny_open_clip_siglip(folder, name: str = "mminspect-tiny-sl") -> str:
    """A tiny open_clip SigLIP-style architecture: a 2-layer timm ViT (no [CLS], attention
    pooling) registered with timm, and an open_clip config naming it. The name avoids
    "siglip" because open_clip then fetches SigLIP's SentencePiece vocabulary from the hub;
    this one tokenizes with open_clip's bundled CLIP BPE."""
    import open_clip
    from timm.models import register_model
    from timm.models._registry import _model_entrypoints
    from timm.models.vision_transformer import VisionTransformer

    if "mminspect_tiny_map_vit" not in _model_entrypoints:
        @register_model
        def mminspect_tiny_map_vit(pretrained=False, **kw):
            for k in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
                kw.pop(k, None)
            return VisionTransformer(**{**dict(img_size=32, patch_size=8, embed_dim=32, depth=2,
                                               num_heads=4, class_token=False, global_pool="map"),
                                        **kw})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(TINY_OPEN_CLIP_SIGLIP))
    open_clip.add_model_config(path)
    return name


_BUILT: dict[str, object] = {}   # one tiny model per kind per test session, shared by files


def tiny_hf_clip_dir(tmp_path_factory):
    if "hf_clip" not in _BUILT:
        _BUILT["hf_clip"] = build_tiny_hf_clip(tmp_path_factory.mktemp("tiny_hf_clip"))
    return _BUILT["hf_clip"]


def tiny_open_clip_arch(tmp_path_factory) -> str:
    if "open_clip" not in _BUILT:
        _BUILT["open_clip"] = register_tiny_open_clip(tmp_path_factory.mktemp("tiny_open_clip"))
    return _BUILT["open_clip"]


def tiny_open_clip_siglip_arch(tmp_path_factory) -> str:
    if "open_clip_siglip" not in _BUILT:
        _BUILT["open_clip_siglip"] = register_tiny_open_clip_siglip(
            tmp_path_factory.mktemp("tiny_open_clip_siglip"))
    return _BUILT["open_clip_siglip"]


def tiny_miniclip():
    """The shipped mini-CLIP when its weights exist, else one with random weights (same code)."""
    from mminspect.models import load
    from mminspect.models.miniclip_adapter import CARD, MINICLIP_DIR, MiniCLIPAdapter, minilm_text_tower

    if (MINICLIP_DIR / CARD).is_file():
        return load("miniclip")
    import torch
    from mminspect.miniclip.model import MiniCLIP
    from mminspect.miniclip.vit import ViTConfig

    torch.manual_seed(0)
    cfg = ViTConfig(image_size=32, stem_channels=(8, 16, 32), width=32, depth=2, heads=4,
                    embed_dim=16)
    return MiniCLIPAdapter.from_model(MiniCLIP(cfg).eval(), minilm_text_tower("cpu"),
                                      label="mini-CLIP (random weights)")


# hf_chinese_clip: Chinese-CLIP (models/hf_chinese_clip.py), CLIP's ViT with a BERT text
# tower (bidirectional, read at [CLS]); built in tests/chinese_tiny.py with Chinese characters.
CLIP_FAMILIES = ["hf_clip", "open_clip", "miniclip", "hf_chinese_clip"]
SIGLIP_FAMILIES = ["hf_siglip"]   # sigmoid link, attention-pooled image tower (models/hf_siglip.py)
# open_clip's SigLIP (models/open_clip_siglip.py): a timm image tower; the family-wide tests
# take it with CLIP_FAMILIES + SIGLIP_FAMILIES + OPEN_CLIP_SIGLIP_FAMILIES.
OPEN_CLIP_SIGLIP_FAMILIES = ["open_clip_siglip"]


def tiny_clip_of(family: str, tmp_path_factory):
    """A tiny CLIP-style adapter of one family (for tests parametrized over CLIP_FAMILIES)."""
    from mminspect.models import load
    if family == "hf_clip":
        return load(str(tiny_hf_clip_dir(tmp_path_factory)))
    if family == "hf_siglip":
        return load(str(tiny_hf_siglip_dir(tmp_path_factory)))
    if family == "hf_chinese_clip":
        from chinese_tiny import build_tiny_chinese_clip
        return load(str(build_tiny_chinese_clip(tmp_path_factory.mktemp("tiny_chinese_clip"))))
    if family == "open_clip_siglip":
        import torch
        torch.manual_seed(0)
        return load(f"open_clip:{tiny_open_clip_siglip_arch(tmp_path_factory)}/random")
    if family == "open_clip":
        import torch
        torch.manual_seed(0)
        return load(f"open_clip:{tiny_open_clip_arch(tmp_path_factory)}/random")
    return tiny_miniclip()
