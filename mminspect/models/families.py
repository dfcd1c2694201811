"""Family quirks as data, keyed by `config.model_type`: how a tokenizer marks spaces and
word pieces, so display tokens read as text. Add a row here, not an `if`, for a new family."""

from .arch import TEXT_MODELS, text_head_sites

# space: the character a tokenizer puts in place of a leading space (shown as "␣"-less text).
# newline: byte-level BPE's stand-in for "\n". end_of_word: CLIP-BPE's suffix on word ends.
TOKEN_STYLES: dict[str, dict[str, str]] = {
    # WordPiece: "##" marks a continuation (kept). WordPiece never writes "▁"; a BERT with
    # XLM-R's SentencePiece (paraphrase-multilingual-MiniLM-L12-v2) marks words with it.
    "bert": {"space": "▁"},
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


# Where each text model's heads meet the residual stream, for ablation and patching (paths
# from root, the adapter's `model.base_model`, `{layer}` filled in; checked against
# transformers 5.23's modules), derived from its row in models/arch.py (TEXT_MODELS, where
# its block path is written once).
# attention_out: the projection whose INPUT is the heads' contexts side by side,
#   [.., head * d_head]: head h's slice is [h*d_head : (h+1)*d_head].
# block: the layer whose OUTPUT is the residual stream after that layer.
HEAD_SITES: dict[str, dict[str, str]] = {k: text_head_sites(row) for k, row in TEXT_MODELS.items()}
