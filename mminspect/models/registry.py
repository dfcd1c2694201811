"""The models we know, as data, and the one process-wide cache of loaded adapters.

A name maps to a family (which adapter class opens it), a source (where its weights are),
a label for people and the adapter's options. `load()` also takes a Hugging Face hub id or
a local folder holding a checkpoint. Loaded adapters are cached, least recently used first
out once they exceed a memory budget (MMINSPECT_CACHE_MB, default 6000).

Lanes: the app runs cheap events and long jobs side by side, each lane one at a time. Hooks
and attention patches change a model object while they run, so two lanes must never share
one: `with model_lane("long"): load(name)` returns that lane's own copy (loaded once, from
the same files, and cached like the others). Outside any lane (notebooks, the CLI, tests)
the default lane's cache is the only one. Why copies and not a lock: a lock would make the
cheap click wait for the long job again, which is what the lanes are for; the bundled
models are small (MiniLM ~90 MB, a mini-CLIP ~3 MB beside its MiniLM).
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from ..types import ModelLoadError
from .arch import modality
from .base import ModelAdapter
from .bundled import verified_minilm_dir

# name -> family, source, label, and the adapter's keyword options. Bundled models work
# offline; the others are well-known hub checkpoints, downloaded on first use.
REGISTRY: dict[str, dict] = {
    "minilm": {
        "family": "hf_text",
        "source": "bundled:minilm",
        "label": "all-MiniLM-L6-v2 · sentence embeddings (bundled, offline)",
        "options": {"kind": "embedding", "pooling": "mean", "normalize": True},
    },
    "distilbert-sst2": {
        "family": "hf_text",
        "source": "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
        "label": "DistilBERT SST-2 · sentiment classifier (downloads on first use)",
        "options": {},
    },
    "bert-base-uncased": {
        "family": "hf_text",
        "source": "google-bert/bert-base-uncased",
        "label": "BERT base uncased · fill-mask (downloads on first use)",
        "options": {},
    },
    "bert-base-chinese": {         # reads Chinese: one token per character
        "family": "hf_text",
        "source": "google-bert/bert-base-chinese",
        "label": "BERT base Chinese · fill-mask, 中文 (downloads on first use)",
        "options": {},
    },
    "multilingual-minilm": {       # BERT layers, XLM-R's SentencePiece; 50+ languages, 中文 too
        "family": "hf_text",
        "source": "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        "label": "paraphrase-multilingual-MiniLM-L12-v2 · sentence embeddings, 50+ languages "
                 "incl. 中文 (downloads on first use)",
        "options": {"kind": "embedding", "pooling": "mean", "normalize": False},
    },
    "miniclip": {
        "family": "miniclip",
        "source": "bundled:miniclip",   # assets/miniclip; the adapter checks the card's SHA-256
        "label": "mini-CLIP · tiny ViT + frozen MiniLM, trained on synthetic shapes (bundled, offline)",
        "options": {},
        "scenes": "shapes",             # the generator its pointing and sanity tables use
    },
    "miniclip2": {
        "family": "miniclip",
        "source": "bundled:miniclip2",  # assets/miniclip2; the adapter checks the card's SHA-256
        "label": "mini-CLIP 2 · tiny ViT + frozen MiniLM, shapes and 64 everyday things on any "
                 "background (bundled, offline)",
        "options": {},
        "scenes": "world",
    },
    "fusion": {
        "family": "fusion",
        "source": "bundled:fusion",     # assets/fusion; the adapter checks the card's SHA-256
        "label": "fusion · image and text in one transformer, trained on mini-CLIP 2's world "
                 "(bundled, offline)",
        "options": {},
        "modality": "fusion",           # its own tab: neither a text model nor a CLIP-style pair
    },
    "fusion-caption": {
        "family": "fusion_caption",
        "source": "bundled:fusion-caption",   # assets/fusion/caption*; the adapter checks the SHA-256
        "label": "fusion captioner · a text decoder reads the image by cross-attention, trained "
                 "on mini-CLIP 2's world (bundled, offline)",
        "options": {},
        "modality": "fusion",
    },
    "gpt2": {
        "family": "hf_text",
        "source": "openai-community/gpt2",
        "label": "GPT-2 small · next token (downloads on first use)",
        "options": {},
    },
    "distilgpt2": {
        "family": "hf_text",
        "source": "distilbert/distilgpt2",
        "label": "DistilGPT-2 · next token (downloads on first use)",
        "options": {},
    },
    "clip-vit-base-patch32": {
        "family": "hf_clip",
        "source": "openai/clip-vit-base-patch32",
        "label": "OpenAI CLIP ViT-B/32 · image-text (Hugging Face, downloads on first use)",
        "options": {},
    },
    "chinese-clip-vit-base-patch16": {
        "family": "hf_chinese_clip",
        "source": "OFA-Sys/chinese-clip-vit-base-patch16",
        "label": "Chinese-CLIP ViT-B/16 · image-text, prompts in Chinese 中文 (downloads on first use)",
        "options": {},
    },
    "siglip-base-patch16-224": {
        "family": "hf_siglip",
        "source": "google/siglip-base-patch16-224",
        # its SentencePiece tokenizer needs `sentencepiece` and `protobuf` (said on load)
        "label": "Google SigLIP ViT-B/16 · image-text, a sigmoid per prompt (downloads on first use)",
        "options": {},
    },
    "t5-small": {                  # an encoder–decoder: api.cross_attention reads it
        "family": "hf_t5",
        "source": "google-t5/t5-small",
        "label": "T5 small · encoder–decoder, cross-attention (downloads on first use)",
        "options": {},
        "modality": "seq2seq",         # neither the text tab's one stack nor an image pair
    },
    "llava-interleave-qwen-0.5b": {   # a vision–language model: api.inspect_vlm reads it
        "family": "hf_llava",
        "source": "llava-hf/llava-interleave-qwen-0.5b-hf",
        "label": "LLaVA-Interleave Qwen 0.5B · vision–language, image tokens in the text "
                 "(downloads on first use)",
        "options": {},
    },
    "open_clip:ViT-B-32/laion2b_s34b_b79k": {
        "family": "open_clip",
        "source": "open_clip:ViT-B-32/laion2b_s34b_b79k",
        "label": "open_clip ViT-B/32 LAION-2B · image-text (downloads on first use)",
        "options": {},
    },
}

# family -> "module:Class", imported on first use so the app starts without every library.
FAMILIES: dict[str, str] = {
    "hf_text": "mminspect.models.hf_text:HFTextAdapter",
    "miniclip": "mminspect.models.miniclip_adapter:MiniCLIPAdapter",
    "hf_clip": "mminspect.models.hf_clip:HFCLIPAdapter",
    # open_clip: one builder that picks OpenCLIPAdapter, or OpenCLIPSiglipAdapter for a timm
    # tower with attention pooling (open_clip's SigLIP configs): the architecture decides.
    "open_clip": "mminspect.models.open_clip_siglip:open_clip_adapter",
    "hf_siglip": "mminspect.models.hf_siglip:HFSiglipAdapter",
    "hf_chinese_clip": "mminspect.models.hf_chinese_clip:HFChineseCLIPAdapter",
    "fusion": "mminspect.models.fusion_adapter:FusionAdapter",
    "fusion_caption": "mminspect.models.caption_adapter:CaptionAdapter",
    "hf_t5": "mminspect.models.hf_t5:HFT5Adapter",
    "hf_llava": "mminspect.models.hf_vlm:HFLlavaAdapter",
}

# A saved Hugging Face folder opens with the family its config names (default: hf_text).
CONFIG_FAMILIES: dict[str, str] = {"clip": "hf_clip", "CLIPModel": "hf_clip",
                                   "siglip": "hf_siglip", "SiglipModel": "hf_siglip",
                                   "chinese_clip": "hf_chinese_clip",
                                   "ChineseCLIPModel": "hf_chinese_clip",
                                   # by architecture, not model_type: a T5EncoderModel has no decoder
                                   "T5ForConditionalGeneration": "hf_t5",
                                   "LlavaForConditionalGeneration": "hf_llava"}
# Configs we recognise but cannot open yet, and why (said instead of a generic failure).
UNSUPPORTED_CONFIGS: dict[str, str] = {
    "siglip2": "SigLIP 2 (Siglip2Model) feeds variable-size patch sequences (NaFlex), which the "
               "image maps here do not handle yet; SigLIP (SiglipModel) checkpoints work",
}
OPEN_CLIP_PREFIX = "open_clip:"   # "open_clip:<architecture>/<tag | random | /path/file>"

# Weight files in pickle format: refused for files we did not make (see _refuse_pickles).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin.index.json")

# A hub id: "name" or "owner/name", letters, digits, "-", "_", "." (no "..", no slashes beyond one).
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}(/[A-Za-z0-9][\w.\-]{0,95})?$")

log = logging.getLogger("mminspect")
_CACHE: OrderedDict[str, ModelAdapter] = OrderedDict()        # the default lane's models
DEFAULT_LANE = "model"
_LANE_CACHES: dict[str, OrderedDict[str, ModelAdapter]] = {}  # every other lane's copies
# The lane of the running request; a ContextVar, so each worker thread (and each asyncio
# task) sees the lane its own event set, never another request's.
_LANE: ContextVar[str] = ContextVar("mminspect_lane", default=DEFAULT_LANE)
# Re-entrant: an adapter may load another while being built (mini-CLIP takes its text tower,
# MiniLM, from this cache, so one copy serves both).
_LOCK = threading.RLock()


def cache_budget_bytes() -> int:
    return int(float(os.environ.get("MMINSPECT_CACHE_MB", 6000)) * 1e6)


def list_models() -> list[dict]:
    """[{name, family, label, bundled, modality}] for the registered models, bundled ones
    first; modality: what the model reads ("image": a CLIP-style family, models/arch.py)."""
    rows = [{"name": k, "family": v["family"], "label": v["label"],
             "bundled": v["source"].startswith("bundled:"), "modality": v.get("modality", modality(v["family"]))}
            for k, v in REGISTRY.items()]
    return sorted(rows, key=lambda r: not r["bundled"])


def scene_models() -> dict[str, str]:
    """{name: "shapes" | "world"}: the bundled mini-CLIPs, each with the synthetic scenes it
    is measured on (whose masks make the pointing and sanity tables possible)."""
    return {k: v["scenes"] for k, v in REGISTRY.items() if "scenes" in v}


def bundled_names() -> list[str]:
    """The bundled models as people see them and as they are typed: "all-MiniLM-L6-v2
    ('minilm')"."""
    return [f"{r['label'].split(' · ')[0]} ({r['name']!r})" for r in list_models() if r["bundled"]]


def _resolve_source(source: str) -> str:
    if source == "bundled:minilm":
        return str(verified_minilm_dir())
    return source


def _adapter_class(family: str):
    module, cls = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module), cls)


def _folder_family(folder: Path) -> str:
    """The family a saved checkpoint's config.json names (model_type, then architectures)."""
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{folder / 'config.json'} is unreadable ({e}).") from e
    keys = [cfg.get("model_type"), *(cfg.get("architectures") or [])]
    if cfg.get("model_type") in UNSUPPORTED_CONFIGS:
        raise ModelLoadError(f"{folder.name}: {UNSUPPORTED_CONFIGS[cfg['model_type']]}.")
    return next((CONFIG_FAMILIES[k] for k in keys if k in CONFIG_FAMILIES), "hf_text")


def _hub_family(hub_id: str) -> str:
    """A hub id the registry knows as a CLIP checkpoint opens as one; others as text models."""
    known = {e["source"]: e["family"] for e in REGISTRY.values()}
    return known.get(hub_id, "hf_text")


def _unknown(name: str) -> ModelLoadError:
    """The one answer for any name outside the registry when custom models are off: it says
    nothing about the server's folders or files."""
    return ModelLoadError(f"Unknown model {name[:100]!r}; choose one of: {', '.join(REGISTRY)}.")


def _refuse_pickles(where: str, files: list[str]) -> None:
    """Pickle weights (.bin, .pt...) can run code when they are loaded; for files we did not
    make, only safetensors are opened (they hold tensors and nothing else). Say so, and how to convert."""
    pickles = sorted(f for f in files if f.endswith(PICKLE_SUFFIXES))
    if pickles:
        raise ModelLoadError(
            f"{where} holds only pickle weights ({pickles[0]}); they can run code when loaded, "
            "so this app opens only safetensors weights (model.safetensors). Convert them on a "
            "machine where you trust the file: load the model there and save it again with "
            "save_pretrained (it writes safetensors), then open that folder.")


def _folder_weights(folder: Path, name: str) -> None:
    files = [p.name for p in folder.iterdir() if p.is_file()]
    if any(f.endswith(".safetensors") or f.endswith(".safetensors.index.json") for f in files):
        return
    _refuse_pickles(name, files)
    raise ModelLoadError(f"{name} holds a config.json but no weights: save the model there "
                         "with save_pretrained (model.safetensors).")


def _entry(name: str, allow_custom: bool = True) -> tuple[str, str, str, dict]:
    """family, path or hub id, label, options for a registry name, a folder or a hub id
    (the last two, and open_clip names, only when `allow_custom`)."""
    if name in REGISTRY:
        e = REGISTRY[name]
        return e["family"], _resolve_source(e["source"]), e["label"], e["options"]
    if not allow_custom:
        raise _unknown(name)
    if name.startswith(OPEN_CLIP_PREFIX):
        source = name.removeprefix(OPEN_CLIP_PREFIX).partition("/")[2]
        _refuse_pickles(source, [source])               # a local torch file for open_clip
        return "open_clip", name, f"{name} (open_clip)", {}
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"{name} is a folder but holds no config.json: point at the folder "
                                 "where a Hugging Face model was saved (save_pretrained).")
        return _folder_family(folder), str(folder), f"{folder.name} (local folder)", {}
    if HUB_ID.match(name) and ".." not in name:
        return _hub_family(name), name, f"{name} (Hugging Face hub)", {}
    raise ModelLoadError(f"Unknown model {name!r}. Known models: {', '.join(REGISTRY)}; or give "
                         "a Hugging Face id like 'owner/name', or a local folder with a checkpoint.")


@contextmanager
def model_lane(lane: str):
    """Inside: `load()` gives `lane`'s own copies of the models (see the module's note)."""
    token = _LANE.set(str(lane))
    try:
        yield
    finally:
        _LANE.reset(token)


def current_lane() -> str:
    return _LANE.get()


def _lane_cache(lane: str) -> OrderedDict[str, ModelAdapter]:
    return _CACHE if lane == DEFAULT_LANE else _LANE_CACHES.setdefault(lane, OrderedDict())


def _evict(keep: str, lane: str = DEFAULT_LANE) -> None:
    """Drop least recently used adapters until the caches fit their budget (never `keep` of
    `lane`); the other lanes' copies go first (a copy is reloaded on demand, and the
    default lane serves the cheap clicks). A request still using an evicted model holds its
    own reference and finishes normally."""
    caches = [*_LANE_CACHES.values(), _CACHE]
    total = sum(a.memory_bytes() for cache in caches for a in cache.values())
    kept = _lane_cache(lane)
    for cache in caches:
        for name in list(cache):
            if total <= cache_budget_bytes():
                return
            if not (cache is kept and name == keep):
                total -= cache.pop(name).memory_bytes()


def _failure(name: str, path: str, e: Exception) -> str:
    """Why a load failed, in our words: the library's own message (which may hold server
    paths or advice such as changing a loader flag) goes to the server log only."""
    if Path(path).is_dir():
        return (f"the files in that folder are not a checkpoint this app can open "
                f"({type(e).__name__})")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return "it is not in the local cache and the hub is offline here"
    if "safetensors" in str(e):
        return ("it has no safetensors weights on the hub (pickle files can run code when "
                "loaded, so they are not opened)")
    return "it could not be fetched from the Hugging Face hub (not found, private, or no connection)"


def load(name: str, allow_custom: bool = True) -> ModelAdapter:
    """A loaded model adapter, from the cache after the first call for the same name.

    allow_custom: also open hub ids, local folders and open_clip names. A public server
    passes False: then any name outside the registry gets the same "Unknown model" answer,
    whether or not a file or folder of that name exists (nothing to probe)."""
    if not isinstance(name, str) or not name.strip():
        raise ModelLoadError("No model named. Choose one of: " + ", ".join(REGISTRY))
    name = name.strip()
    if not allow_custom and name not in REGISTRY:
        raise _unknown(name)
    lane = current_lane()
    cache = _lane_cache(lane)
    try:     # the common case without the lock: a lane loading a copy must not stall the others
        adapter = cache[name]
        cache.move_to_end(name)
        return adapter
    except KeyError:
        pass
    with _LOCK:  # one load at a time: two users asking for one model must not load it twice
        if name in cache:
            cache.move_to_end(name)
            return cache[name]
        family, path, label, options = _entry(name, allow_custom)
        if name not in REGISTRY and Path(path).is_dir():
            _folder_weights(Path(path), name)           # safetensors, or a clear refusal
        try:
            adapter = _adapter_class(family)(name=name, path=path, label=label, **options)
        except ModelLoadError:
            raise
        except Exception as e:  # noqa: BLE001 - every loader failure gets our own words
            log.warning("could not load %r", name, exc_info=True)
            raise ModelLoadError(f"Could not load {name[:100]!r}: {_failure(name, path, e)}. The "
                                 f"bundled models always work offline: "
                                 f"{', '.join(bundled_names())}.") from e
        cache[name] = adapter
        _evict(keep=name, lane=lane)
        return adapter
