"""The steps of "How attention works": what each step does in one sentence, its figure, and
the question a student answers first when *predict first* is on. Answers come from the trace
(the real head's numbers), never from a table written by hand."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import figures
from ..api.lesson_measures import key_choices
from ..figures import glassbox, glassbox_parts
from ..types import EmbeddingTrace, HeadTrace

# (key, title, what it does in one sentence)
STEPS = [
    ("embeddings", "1 · embeddings", "Each token's word vector and its position vector (and, in BERT, "
     "a segment vector) are **added** into one vector; for images, each patch's vector plus its position, "
     "with a learned [CLS] vector in front. This sum is what layer 0 reads."),
    ("x", "2 · x", "**x** is what the attention reads: one vector per token, the residual stream "
     "(normalised first in pre-norm models such as GPT-2 and CLIP)."),
    ("qkv", "3 · q, k, v", "Three learned projections of x, each head with its own slice: the **query** "
     "asks, the **key** is matched against queries, the **value** is what gets passed on."),
    ("scores", "4 · q·k", "The query's dot product with every key: one raw score per key, larger = a "
     "better match."),
    ("scale", "5 · ÷√d", "The scores are divided by √d (d = numbers per head) so they do not grow "
     "with the head's size and saturate the softmax."),
    ("mask", "6 · mask", "Keys the query may not see get −∞ (weight 0): padding, and in a decoder "
     "every later token."),
    ("softmax", "7 · softmax", "Exponentiate and divide by the sum over the keys: the **weights** are "
     "positive and sum to 1."),
    ("context", "8 · weights · v", "The head's result for the query: the **weighted sum of the value "
     "vectors** (not the weights themselves)."),
    ("output", "9 · W_O", "The output projection W_O maps the head's numbers back to the model's width; "
     "every head's output (+ one bias) is summed."),
    ("residual", "10 · + residual", "The attention output is **added** to the residual stream: each "
     "token's vector is updated, not replaced."),
]
STEP_KEYS = [k for k, _, _ in STEPS]
TITLES = {k: t for k, t, _ in STEPS}
SENTENCES = {k: s for k, _, s in STEPS}


@dataclass(frozen=True)
class Question:
    text: str
    choices: tuple[str, ...]
    answer: str
    reveal: str              # the real number behind the answer, in words


def figure(key: str, tr: HeadTrace, emb: EmbeddingTrace | None, q: int):
    if key == "embeddings":
        if emb is None:
            return figures.note_figure("The embedding trace is not available for this model.")
        return glassbox_parts.embeddings_figure(emb, q)
    return glassbox.STEP_FIGURES[key](tr, q)


def _ratio_bin(r: float) -> str:
    return "less than 10 %" if r < 0.1 else "10 % to 50 %" if r < 0.5 else "more than 50 %"


def question(key: str, tr: HeadTrace, emb: EmbeddingTrace | None, q: int) -> Question:
    """The predict-first question of step `key` for query position q, answered from the trace."""
    tok, d, width = tr.tokens[q], tr.d_head, tr.x.shape[1]
    keys = key_choices(tr.tokens)
    if key == "embeddings":
        choices = ("added into one vector", "concatenated side by side", "position added after attention")
        if emb is None:
            return Question("How are the word and position embeddings combined?", choices, choices[0],
                            "Added (this model's embedding trace is not available).")
        err = float(np.abs(sum(emb.parts.values()) - emb.total).max())
        return Question("How are the word and position embeddings combined?", choices, choices[0],
                        f"Added: {' + '.join(emb.parts)}, each {emb.total.shape[1]} numbers, give one "
                        f"vector of {emb.total.shape[1]} (max |sum − parts| = {err:.1e}).")
    if key == "x":
        choices = ("the residual stream itself", "a LayerNorm-ed copy of it")
        gap = float(np.abs(tr.x - tr.residual).max())
        return Question("Is x the residual stream itself, or a normalised copy?", choices,
                        choices[0] if tr.norm == "post" else choices[1],
                        f"max |x − residual| = {gap:.2e}; this model puts its LayerNorm "
                        + ("after the sum (post-norm)." if tr.norm == "post" else "before the attention (pre-norm)."))
    if key == "qkv":
        choices = tuple(dict.fromkeys(str(n) for n in sorted({d, width, 3 * width})))
        return Question(f"How many numbers does this head's query vector have per token?", choices,
                        str(d), f"{d}: the model's {width} numbers are split over {tr.n_heads} heads "
                        f"({tr.n_heads} × {d} = {tr.n_heads * d}).")
    if key in ("scores", "softmax"):
        row = np.where(tr.mask[q], tr.scores[q] if key == "scores" else tr.weights[q], -np.inf)
        top = int(np.argmax(row))
        what = "raw score q·k" if key == "scores" else "weight"
        visible = tuple(keys[i] for i in np.flatnonzero(tr.mask[q]))
        return Question(f"Which key gets the largest {what} from “{tok}”?", visible, keys[top],
                        f"“{keys[top]}”: {what} {row[top]:.3f}.")
    if key == "scale":
        with_s = glassbox.entropy(tr.weights[q])
        without = glassbox.entropy(glassbox.row_softmax(tr.scores[q], tr.mask[q]))
        answer = "sharper" if without < with_s - 1e-3 else "flatter" if without > with_s + 1e-3 else "no change"
        return Question(f"Without ÷√d, would the weights of “{tok}” be sharper or flatter?",
                        ("sharper", "flatter", "no change"), answer,
                        f"Entropy {with_s:.3f} nats with ÷√{d}, {without:.3f} without (lower = sharper).")
    if key == "mask":
        choices = ("every token", "only itself and earlier tokens", "only later tokens")
        seen = np.flatnonzero(tr.mask[q])
        answer = choices[0] if len(seen) == len(tr.tokens) else choices[1]
        return Question(f"Which keys may “{tok}” look at?", choices, answer,
                        f"It sees {len(seen)} of {len(tr.tokens)} tokens"
                        + (" (a decoder's causal mask)." if tr.causal else " (an encoder: both ways)."))
    if key == "context":
        choices = ("the attention weights", "a weighted sum of the value vectors", "the value of the top key")
        err = float(np.abs(tr.weights[q] @ tr.v - tr.context[q]).max())
        return Question(f"What is the head's result for “{tok}”?", choices, choices[1],
                        f"max |context − Σ weight × v| = {err:.1e}; the top key contributes only "
                        f"{tr.weights[q].max():.2f} of the mix.")
    if key == "output":
        choices = tuple(str(n) for n in sorted({d, width}))
        return Question("How many numbers does this head add to each token's vector?", choices,
                        str(width), f"{width}: W_O maps the head's {d} numbers to the model's width.")
    r = float(np.linalg.norm(tr.residual_after[q] - tr.residual[q]) / max(np.linalg.norm(tr.residual[q]), 1e-12))
    return Question(f"By how much does this layer's attention change the vector of “{tok}” "
                    "(length of the update ÷ length of the vector)?",
                    ("less than 10 %", "10 % to 50 %", "more than 50 %"), _ratio_bin(r),
                    f"{100 * r:.1f} % (‖update‖ ÷ ‖residual‖).")
