"""Text inspection: one forward pass -> tokens, attention, hidden-state norms, prediction."""
from __future__ import annotations

import numpy as np

from ..explain import cosine, head_summary, softmax
from ..models import TextAdapter
from ..types import AttentionMaps, InputError, TextPrediction, TextView
from .adapters import as_text_adapter
from .languages import script_notes
from .lens import LENS_KINDS, lens_from
from .limits import check_labels, check_text, limits
from .predictions import task_prediction

def _prediction(adapter: TextAdapter, sentence: np.ndarray, compare_to: str | None,
                labels: list[str], temperature: float, notes: list[str]) -> TextPrediction:
    """Zero-shot and pair similarity from embeddings. sentence: [d] of the inspected text."""
    others = ([compare_to] if compare_to else []) + labels
    if not others:
        return TextPrediction(kind=adapter.kind, temperature=temperature)
    if compare_to:
        dropped = adapter.encode(compare_to).n_dropped
        if dropped:
            notes.append(f"The second text was cut to {adapter.max_tokens} tokens: {dropped} dropped.")
    emb = adapter.embed(others)                                   # [other, d]
    sims = cosine(sentence[None], emb)[0]                         # [other]
    similarity = float(sims[0]) if compare_to else None
    scores = sims[1:] if compare_to else sims                     # [label]
    probs = softmax(scores, temperature) if labels else np.zeros(0)
    return TextPrediction(kind=adapter.kind, compare_to=compare_to or None, similarity=similarity,
                          labels=labels, label_scores=scores, label_probs=probs,
                          temperature=temperature)


def inspect_text(model, text: str, compare_to: str | None = None, labels=None,
                 temperature: float = 0.05, logit_lens: bool = False) -> TextView:
    """Tokens, attention of every layer and head, hidden-state norms and the prediction.

    model: a loaded adapter or a registry name. compare_to: a second text for the cosine
    similarity. labels: strings for zero-shot scores (cosine of the text to each label,
    softmax at `temperature`; 0.05 is the 1/20 scale sentence-transformers trains with).
    logit_lens: for masked and causal LMs, also the layer-by-layer predictions (`view.lens`),
    from the same forward pass.
    """
    lim = limits()                  # every limit before any model work (api/limits.py)
    check_text(text, lim)
    check_text(compare_to, lim, "The second text")
    labels = check_labels(labels, lim)
    if not 0 < temperature <= 10:
        raise InputError(f"temperature must be in (0, 10], got {temperature}.")
    adapter = as_text_adapter(model)
    compare_to = compare_to.strip() if isinstance(compare_to, str) and compare_to.strip() else None
    enc = adapter.encode(text)
    notes = script_notes(adapter, text, enc)    # a Chinese text on an English-only model
    if enc.n_dropped:
        notes.append(f"The text was cut to the model's limit of {adapter.max_tokens} tokens: "
                     f"{enc.n_dropped} tokens at the end were dropped.")
    inner = adapter.internals(enc)
    if adapter.kind == "embedding":
        mask = enc.inputs["attention_mask"]                                   # [1, token]
        sentence = adapter.pool(inner.hidden[-1][None], mask)[0].cpu().numpy()  # [d_model]
        pred = _prediction(adapter, sentence, compare_to, labels, temperature, notes)
    else:
        if compare_to or labels:
            notes.append(f"{adapter.name} is a {adapter.kind.replace('_', ' ')} model: it makes "
                         "its own prediction, so the second text and the labels are not used.")
        pred = task_prediction(adapter, enc, inner, notes)
    maps = AttentionMaps(weights=inner.attentions.float().cpu().numpy(), tokens=enc.tokens,
                         special=enc.special, causal=adapter.causal)
    norms = inner.hidden.float().norm(dim=-1).cpu().numpy()              # [layer + 1, token]
    lens = lens_from(adapter, enc, inner) if logit_lens and adapter.kind in LENS_KINDS else None
    return TextView(text=text, model_name=adapter.name, attention=maps, hidden_norms=norms,
                    offsets=enc.offsets, prediction=pred, n_dropped=enc.n_dropped,
                    max_tokens=adapter.max_tokens, notes=notes, lens=lens)


# A head that gives most of its attention to [CLS]/[SEP] is "parked" (a no-op): its low
# entropy says nothing about the text. Above this share a head is not offered as a first view.
PARKED_SHARE = 0.5


def instructive_head(maps: AttentionMaps) -> tuple[int, int, str]:
    """(layer, head, why) of the head a first view should open on: the most focused head
    (lowest mean entropy of its attention rows) among the heads that are not parked on the
    special tokens. Layer 0, head 0 is often nearly uniform, which teaches nothing."""
    s = head_summary(maps)
    entropy = np.where(s.special < PARKED_SHARE, s.entropy, np.inf)   # [layer, head]
    if not np.isfinite(entropy).any():                                # every head is parked
        entropy = s.entropy
    layer, head = (int(i) for i in np.unravel_index(np.argmin(entropy), entropy.shape))
    uniform = float(np.log(len(maps.tokens)))
    why = (f"layer {layer}, head {head}: the most focused head on this text that is not "
           f"parked on the special tokens: mean entropy {s.entropy[layer, head]:.2f} nats "
           f"(evenly spread would be {uniform:.2f}), {100 * s.special[layer, head]:.0f} % to "
           f"special tokens, {100 * s.previous[layer, head]:.0f} % to the previous token")
    return layer, head, why


def tower_shape(adapter, tower: str = "text") -> tuple[int, int] | None:
    """(layers, heads per layer) of one tower of a loaded model, for the sliders' ranges, read
    from the same architecture table the head trace uses; None where the table does not know
    the architecture (the trace then names the valid layers itself)."""
    from operator import attrgetter
    from ..models.arch import tower_key
    from ..models.attention_sites import ATTENTION_SITES, n_heads_of
    if "image" in adapter.modalities:
        adapter, key = tower_key(adapter, tower)        # mini-CLIP's text: its MiniLM's row
    elif tower != "text":
        return None                                                    # a text model: no image tower
    else:
        key = getattr(adapter, "model_type", None)
    spec = ATTENTION_SITES.get(key)
    if spec is None:
        return None
    blocks = attrgetter(spec["blocks"])(attrgetter(spec["root"])(adapter))
    return len(blocks), n_heads_of(blocks[0], spec)
