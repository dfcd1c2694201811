"""Family quirks as data, keyed by `config.model_type`: how a tokenizer marks spaces and
word pieces, so display tokens read as text. Add a row here, not an `if`, for a new family."""

# space: the character a tokenizer puts in place of a leading space (shown as "␣"-less text).
# newline: byte-level BPE's stand-in for "\n". end_of_word: CLIP-BPE's suffix on word ends.
TOKEN_STYLES: dict[str, dict[str, str]] = {
    "bert": {},                                   # WordPiece: "##" marks a continuation; kept
    "distilbert": {},
    "roberta": {"space": "Ġ", "newline": "Ċ"},
    "gpt2": {"space": "Ġ", "newline": "Ċ"},
    "albert": {"space": "▁"},
    "xlm-roberta": {"space": "▁"},
    "t5": {"space": "▁"},
    "clip": {"end_of_word": "</w>"},
    "siglip": {"space": "▁"},                     # SentencePiece
}


def clean_token(token: str, model_type: str) -> str:
    """A tokenizer's piece as a person would read it (the raw piece stays in the vocabulary)."""
    style = TOKEN_STYLES.get(model_type, {})
    if "space" in style and token.startswith(style["space"]):
        token = " " + token[len(style["space"]):]
    if "newline" in style:
        token = token.replace(style["newline"], "⏎")
    if "end_of_word" in style and token.endswith(style["end_of_word"]):
        token = token[: -len(style["end_of_word"])]
    return token


# Where each family's heads meet the residual stream, for ablation and patching (paths from
# `model.base_model`, `{layer}` filled in; checked against transformers 5.23's modules).
# attention_out: the projection whose INPUT is the heads' contexts side by side,
#   [.., head * d_head]: head h's slice is [h*d_head : (h+1)*d_head].
# block: the layer whose OUTPUT is the residual stream after that layer.
# heads: the config attribute holding the number of heads.
# ALBERT is absent on purpose: its layers share weights, so a path names every layer at once.
HEAD_SITES: dict[str, dict[str, str]] = {
    "bert": {"attention_out": "encoder.layer.{layer}.attention.output.dense",
             "block": "encoder.layer.{layer}", "heads": "num_attention_heads"},
    "roberta": {"attention_out": "encoder.layer.{layer}.attention.output.dense",
                "block": "encoder.layer.{layer}", "heads": "num_attention_heads"},
    "xlm-roberta": {"attention_out": "encoder.layer.{layer}.attention.output.dense",
                    "block": "encoder.layer.{layer}", "heads": "num_attention_heads"},
    "electra": {"attention_out": "encoder.layer.{layer}.attention.output.dense",
                "block": "encoder.layer.{layer}", "heads": "num_attention_heads"},
    "mpnet": {"attention_out": "encoder.layer.{layer}.attention.attn.o",
              "block": "encoder.layer.{layer}", "heads": "num_attention_heads"},
    "distilbert": {"attention_out": "transformer.layer.{layer}.attention.out_lin",
                   "block": "transformer.layer.{layer}", "heads": "n_heads"},
    "gpt2": {"attention_out": "h.{layer}.attn.c_proj", "block": "h.{layer}", "heads": "n_head"},
    "gpt_neox": {"attention_out": "layers.{layer}.attention.dense", "block": "layers.{layer}",
                 "heads": "num_attention_heads"},
    "llama": {"attention_out": "layers.{layer}.self_attn.o_proj", "block": "layers.{layer}",
              "heads": "num_attention_heads"},
    "mistral": {"attention_out": "layers.{layer}.self_attn.o_proj", "block": "layers.{layer}",
                "heads": "num_attention_heads"},
    "qwen2": {"attention_out": "layers.{layer}.self_attn.o_proj", "block": "layers.{layer}",
              "heads": "num_attention_heads"},
}
