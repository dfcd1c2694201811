"""How each kind of prediction is shown: a probability dict for `gr.Label` and a Markdown
summary. Plain functions of a `TextView`, so they are tested without a browser."""
from __future__ import annotations

import html

from ..types import TextView

READOUT = {"embedding": "mean", "classifier": "first", "masked_lm": "mean", "causal_lm": "last"}


def md_escape(text: str) -> str:
    """Tokens are user text: escape HTML and Markdown's inline marks (quotes stay: escaped
    quotes show as a literal `&#x27;` in gradio's Markdown)."""
    out = html.escape(text, quote=False)
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


def label_dict(view: TextView) -> dict[str, float] | None:
    pred = view.prediction
    if pred.kind in ("embedding", "classifier"):
        return {lab: float(p) for lab, p in zip(pred.labels, pred.label_probs)} or None
    if pred.fills:
        choice = pred.fills[0]
        # Two fillers can display alike ("the" and " the"); a repr keeps them apart.
        return {repr(t): float(p) for t, p in zip(choice.tokens, choice.probs)}
    return None


KINDS = {"embedding": "sentence embeddings", "classifier": "classifier",
         "masked_lm": "fill-mask model", "causal_lm": "next-token model"}


def summary_markdown(view: TextView, device: str, label: str | None = None) -> str:
    pred, n = view.prediction, len(view.tokens)
    lines = [f"**{md_escape(label or view.model_name)}** ({KINDS.get(pred.kind, pred.kind)}, on {device}) · {n} tokens "
             f"({int(view.attention.special.sum())} special) · "
             f"{view.attention.n_layers} layers × {view.attention.n_heads} heads"]
    if pred.kind == "embedding":
        if pred.similarity is not None:
            lines.append(f"Cosine similarity to the second text: **{pred.similarity:.3f}** "
                         "(1 = same meaning, 0 = unrelated).")
        if pred.labels:
            lines.append(f"Zero-shot: cosine of the text to each label, softmax at temperature "
                         f"{pred.temperature:g} → probabilities on the left.")
        if not pred.labels and pred.similarity is None:
            lines.append("Add a second text or some labels to see what the model predicts.")
    elif pred.kind == "classifier":
        best = int(pred.label_probs.argmax())
        lines.append(f"Predicted class: **{md_escape(pred.labels[best])}** "
                     f"(p = {pred.label_probs[best]:.3f}; softmax of the classifier's logits).")
    elif pred.kind == "masked_lm":
        for f in pred.fills:
            options = ", ".join(f"`{md_escape(t.strip()) or '␣'}` {p:.2f}" for t, p in zip(f.tokens, f.probs))
            lines.append(f"[MASK] at position {f.position}: {options}")
    else:
        f = pred.fills[0]
        lines.append(f"Most likely next token: `{md_escape(f.tokens[0])}` (p = {f.probs[0]:.3f}).")
        if pred.continuation is not None:
            lines.append(f"Greedy continuation: …{md_escape(pred.continuation)}")
    return "\n\n".join(lines)


def notes_markdown(view: TextView) -> str:
    return "\n\n".join(f"⚠️ {md_escape(note)}" for note in view.notes)
