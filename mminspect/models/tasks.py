"""What a Hugging Face text checkpoint predicts, read from its config, as data.

`detect_kind` maps the class name in `config.architectures` to one of our kinds; each kind
has the Auto class that loads its head. `LENS_HEADS` says, per `model_type`, where the final
norm and the output head live, so the logit lens can push any layer's residual stream
through them.
"""
from __future__ import annotations

import re

from transformers import (AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM,
                          AutoModelForSequenceClassification)

# (pattern on the architecture class name, kind), first match wins.
KIND_PATTERNS: list[tuple[str, str]] = [
    (r"ForSequenceClassification$", "classifier"),
    (r"(ForMaskedLM|ForPreTraining)$", "masked_lm"),
    (r"(ForCausalLM|LMHeadModel)$", "causal_lm"),
]

AUTO_CLASSES = {
    "embedding": AutoModel,
    "classifier": AutoModelForSequenceClassification,
    "masked_lm": AutoModelForMaskedLM,
    "causal_lm": AutoModelForCausalLM,
}

# model_type -> where the logit lens finds the pieces after the last block (attribute paths
# on the task model). norm: the final norm (None when the head starts with its own);
# head: module(s) applied in order, hidden [.., d_model] -> logits [.., vocab];
# last_normed: True when hidden_states[-1] already went through `norm` (GPT-2, Llama).
LENS_HEADS: dict[str, dict] = {
    "gpt2": {"norm": "transformer.ln_f", "head": ["lm_head"], "last_normed": True},
    "llama": {"norm": "model.norm", "head": ["lm_head"], "last_normed": True},
    "mistral": {"norm": "model.norm", "head": ["lm_head"], "last_normed": True},
    "qwen2": {"norm": "model.norm", "head": ["lm_head"], "last_normed": True},
    "gpt_neox": {"norm": "gpt_neox.final_layer_norm", "head": ["embed_out"], "last_normed": True},
    "bert": {"norm": None, "head": ["cls"], "last_normed": False},
    "roberta": {"norm": None, "head": ["lm_head"], "last_normed": False},
    "distilbert": {"norm": None, "last_normed": False,
                   "head": ["vocab_transform", "activation", "vocab_layer_norm", "vocab_projector"]},
}


def detect_kind(config) -> str:
    """Our kind for a checkpoint: classifier, masked_lm, causal_lm, or embedding (a bare encoder)."""
    for arch in getattr(config, "architectures", None) or []:
        for pattern, kind in KIND_PATTERNS:
            if re.search(pattern, arch):
                return kind
    return "embedding"
