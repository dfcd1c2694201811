"""Figures of models where one sequence READS another: an encoder–decoder's cross-attention
(T5: each written token over the source tokens) and a vision–language model's image tokens
(LLaVA: each written token over the picture's patches), with their logit lenses. numpy in,
plotly figures / uint8 images out (no torch). Built from plain dicts (layout.fast_figure):
a slider step redraws at once."""
from __future__ import annotations

import numpy as np

from ..types.seq2seq import CrossAttentionView
from ..types.vlm import VLMView
from .clip import overlay, upscale
from .layout import fast_figure, plotly_text, unique_labels

MEAN = "heads averaged"
MAX_LENS_COLUMNS = 48        # text positions in a lens figure; more would be unreadable


def _labels(tokens: list[str]) -> list[str]:
    return unique_labels([plotly_text(t) for t in tokens])


def head_name(head: int | None) -> str:
    return MEAN if head is None else f"head {head}"


def _pick(a: np.ndarray, head: int | None) -> np.ndarray:
    """[head, ...] -> one head's array, or the heads' mean."""
    return a.mean(0) if head is None else a[head]


def matrix_figure(m: np.ndarray, rows: list[str], cols: list[str], title: str,
                  row_axis: str, col_axis: str, height: int | None = None) -> object:
    """One attention matrix [row, column] as a heatmap; rows read, columns are read."""
    h = height or max(260, 90 + 22 * len(rows))
    trace = {"type": "heatmap", "z": np.asarray(m, np.float32), "x": _labels(cols),
             "y": _labels(rows), "colorscale": "Inferno", "zmin": 0,
             "colorbar": {"title": {"text": "weight"}, "thickness": 12},
             "hovertemplate": f"{row_axis} %{{y}}<br>{col_axis} %{{x}}<br>weight %{{z:.3f}}<extra></extra>"}
    return fast_figure([trace], {"title": {"text": title}, "height": h,
                                 "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
                                 "xaxis": {"title": {"text": col_axis}, "tickfont": {"size": 10}},
                                 "yaxis": {"title": {"text": row_axis}, "autorange": "reversed",
                                           "tickfont": {"size": 10}}})


# ---- encoder–decoder (T5) ------------------------------------------------------------------
def cross_figure(view: CrossAttentionView, layer: int, head: int | None) -> object:
    """Every written token (rows) over the source tokens (columns), in one decoder layer."""
    return matrix_figure(_pick(view.cross_attention[layer], head), view.target_tokens,
                         view.source_tokens,
                         f"Cross-attention, decoder layer {layer}, {head_name(head)}: which source "
                         "tokens each written token read", "written", "source")


def read_by_figure(view: CrossAttentionView, t: int, layer: int) -> object:
    """One written token's cross-attention, head by head (rows) over the source tokens."""
    heads = [f"head {h}" for h in range(view.n_heads)]
    m = view.read_by(t, layer)                                            # [head, S]
    return matrix_figure(np.vstack([m, m.mean(0, keepdims=True)]), heads + [MEAN],
                         view.source_tokens,
                         f"What {plotly_text(repr(view.target_tokens[t]))} (written token {t}) read, layer "
                         f"{layer}, head by head", "head", "source")


def encoder_figure(view: CrossAttentionView, layer: int, head: int | None) -> object:
    layer = min(layer, view.encoder_attention.shape[0] - 1)
    return matrix_figure(_pick(view.encoder_attention[layer], head), view.source_tokens,
                         view.source_tokens, f"Encoder self-attention, layer {layer}, {head_name(head)}",
                         "query (source)", "key (source)")


def decoder_figure(view: CrossAttentionView, layer: int, head: int | None) -> object:
    """The decoder's causal self-attention: the step that wrote each token (rows) over the
    tokens the decoder had read by then (columns: the start token, then the target)."""
    return matrix_figure(_pick(view.decoder_attention[layer], head), view.target_tokens,
                         view.decoder_tokens,
                         f"Decoder self-attention, layer {layer}, {head_name(head)}: the step that "
                         "wrote each token over what it had read", "writing", "read")


def lens_figure(top_tokens, top_probs: np.ndarray, colour: np.ndarray, columns: list[str],
                title: str, colour_name: str = "p(written)") -> object:
    """Layers (rows) x positions (columns): the top-1 token after each layer written in its
    cell, coloured by `colour` [layer, position] (e.g. the probability of the token actually
    written there)."""
    layers = [f"layer {i}" for i in range(colour.shape[0])]
    text = [[plotly_text(row[0]) for row in layer] for layer in top_tokens]
    hover = [["<br>".join(f"{plotly_text(repr(t))} {p:.2f}" for t, p in zip(cell, probs))
              for cell, probs in zip(layer, lp)] for layer, lp in zip(top_tokens, top_probs)]
    trace = {"type": "heatmap", "z": np.asarray(colour, np.float32), "x": _labels(columns),
             "y": layers, "text": text, "texttemplate": "%{text}", "textfont": {"size": 10},
             "customdata": hover, "colorscale": "Blues", "zmin": 0, "zmax": 1,
             "colorbar": {"title": {"text": colour_name}, "thickness": 12},
             "hovertemplate": "%{y}, %{x}<br>%{customdata}<extra></extra>"}
    return fast_figure([trace], {"title": {"text": title}, "height": 140 + 34 * len(layers),
                                 "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
                                 "yaxis": {"autorange": "reversed"}})


def decoder_lens_figure(view: CrossAttentionView) -> object:
    lens = view.lens
    return lens_figure(lens.top_tokens, lens.top_probs, lens.target_probs, view.target_tokens,
                       "Logit lens over the decoder: the top token after each layer (in each "
                       "cell); colour: the probability of the token written there")


# ---- vision–language (LLaVA) ---------------------------------------------------------------
def seen_picture(view: VLMView) -> np.ndarray:
    """The picture as the vision tower saw it, enlarged (whole factor) to be seen."""
    return enlarged(view.image)


def enlarged(image) -> np.ndarray:
    """A picture (uint8 [H, W, 3]) enlarged by a whole factor to at least 256 px a side:
    a 64 px scene is otherwise a stamp in the preview."""
    return upscale(np.asarray(image, np.uint8), 256)


def patch_map_image(view: VLMView, t: int, layer: int, head: int | None) -> np.ndarray:
    """Written token t's attention to each patch's image token, over the picture. -> uint8"""
    return overlay(view.image, view.patch_map(t, layer, head))


def head_gallery(view: VLMView, t: int, layer: int) -> list[tuple[np.ndarray, str]]:
    """One (image, caption) per head: its map, and the share of the token's attention that
    head put on the image at all."""
    share = view.image_share[layer, :, t]                                 # [head]
    return [(overlay(view.image, view.patch_map(t, layer, h), legend=False),
             f"head {h} · {share[h]:.0%} on image") for h in range(view.n_heads)]


def image_share_figure(view: VLMView, t: int) -> object:
    """Layers (rows) x heads (columns): how much of written token t's attention went to the
    image tokens (the rest went to the prompt's words and the tokens written before)."""
    share = view.image_share[:, :, t]                                    # [layer, head]
    trace = {"type": "heatmap", "z": share, "x": [f"head {h}" for h in range(view.n_heads)],
             "y": [f"layer {i}" for i in range(view.n_layers)], "colorscale": "Viridis",
             "zmin": 0, "zmax": 1, "texttemplate": "%{z:.0%}" if share.size <= 400 else "",
             "colorbar": {"title": {"text": "on image"}, "thickness": 12},
             "hovertemplate": "%{y}, %{x}<br>%{z:.1%} on the image<extra></extra>"}
    who = plotly_text(repr(view.target_tokens[t]))
    return fast_figure([trace], {"title": {"text": f"Attention of {who} (written token {t}) on "
                                           "the image tokens, every layer and head"},
                                 "height": 140 + 26 * view.n_layers,
                                 "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
                                 "yaxis": {"autorange": "reversed"}})


def text_positions(view: VLMView) -> np.ndarray:
    """The non-image positions, the last MAX_LENS_COLUMNS of them (the answer's end)."""
    image = set(view.image_positions)
    keep = [i for i in range(len(view.tokens)) if i not in image]
    return np.asarray(keep[-MAX_LENS_COLUMNS:], dtype=np.int64)


def vlm_text_lens_figure(view: VLMView) -> object:
    """The lens at the text positions: what each layer would write next at each prompt and
    answer position; colour: the top token's own probability."""
    cols = text_positions(view)
    lens = view.lens
    tops = [[layer[i] for i in cols] for layer in lens.top_tokens]
    shown = len(cols) < len(view.tokens) - len(view.image_positions)
    return lens_figure(tops, lens.top_probs[:, cols], lens.top_probs[:, cols, 0],
                       [view.tokens[i] for i in cols],
                       "Logit lens at the text positions: the next token each layer would write"
                       + (f" (the last {len(cols)})" if shown else "") + "; colour: its probability",
                       colour_name="p(top token)")


def image_lens_figure(view: VLMView, layer: int) -> object:
    """The lens at the image positions of one layer, laid out as the patch grid: the word
    each patch's image token reads as (its top token), coloured by that token's probability."""
    pos = view.grid_positions
    lens = view.lens
    probs = lens.top_probs[layer, pos, 0].reshape(view.rows, view.cols)
    words = np.array([plotly_text(lens.top_tokens[layer][p][0]) for p in pos], dtype=object)
    trace = {"type": "heatmap", "z": probs, "x": list(range(view.cols)), "y": list(range(view.rows)),
             "text": words.reshape(view.rows, view.cols).tolist(),
             "texttemplate": "%{text}" if view.rows <= 16 else "", "textfont": {"size": 10},
             "colorscale": "Blues", "zmin": 0, "colorbar": {"title": {"text": "p"}, "thickness": 12},
             "hovertemplate": "row %{y}, column %{x}<br>%{text} %{z:.2f}<extra></extra>"}
    return fast_figure([trace], {"title": {"text": f"Logit lens at the image tokens, layer "
                                           f"{layer}: the top token of each patch"},
                                 "height": 520, "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
                                 # square patches, the axes only as wide as the grid
                                 "xaxis": {"title": {"text": "patch column"}, "constrain": "domain", "dtick": 1},
                                 "yaxis": {"title": {"text": "patch row"}, "autorange": "reversed", "dtick": 1,
                                           "scaleanchor": "x", "constrain": "domain"}})
