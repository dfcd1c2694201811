"""Figures of the image-text tab: the prediction step by step, heat maps over the image
(composed here: gr.AnnotatedImage takes one colour per mask, not a colour map), the
embedding space, attention over the patch grid. numpy in, figures / uint8 images out."""
from __future__ import annotations

import html

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..types import ClipView
from .layout import plotly_text

DISPLAY = 320   # overlays are drawn at least this big: a 64 px scene is unreadable as is
DIM = 0.6       # brightness of the picture under a map


def _lut(scale: str, n: int = 256) -> np.ndarray:
    """A plotly colour scale sampled into a [n, 3] uint8 lookup table."""
    colours = pc.sample_colorscale(scale, [i / (n - 1) for i in range(n)], colortype="tuple")
    return (np.array(colours) * (255 if max(max(c) for c in colours) <= 1 else 1)).astype(np.uint8)


LUTS = {"seq": _lut("Inferno"), "div": _lut("RdBu_r")}


def upscale(a: np.ndarray, size: int = DISPLAY) -> np.ndarray:
    """Nearest-neighbour upscale by a whole factor so the shorter side is >= size. [H, W, ...]"""
    k = max(1, -(-size // min(a.shape[:2])))
    return np.repeat(np.repeat(a, k, axis=0), k, axis=1)


def colour_bar(width: int, vmax: float, signed: bool, height: int = 32) -> np.ndarray:
    """A legend strip under an overlay: the colour scale with its end values written under it.
    -> uint8 [height, width, 3]. Drawn with Pillow because the overlay is an image, not a plot."""
    from PIL import Image, ImageDraw, ImageFont
    lut = LUTS["div" if signed else "seq"]
    ramp = lut[np.linspace(0, 255, width).astype(int)]                   # [width, 3]
    bar = np.full((height, width, 3), 255, np.uint8)
    bar[:12] = ramp[None]
    im = Image.fromarray(bar)
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=max(10, height - 18))   # readable once the image shrinks
    left, right = (f"-{vmax:.3g}", f"+{vmax:.3g}") if signed else ("0", f"{vmax:.3g}")
    draw.text((2, 13), left + (" (against)" if signed else " (none)"), fill=(40, 40, 40), font=font)
    if signed:
        draw.text((width // 2 - draw.textlength("0", font=font) / 2, 13), "0", fill=(40, 40, 40),
                  font=font)
    label = right + (" (for)" if signed else " (most)")
    draw.text((width - draw.textlength(label, font=font) - 2, 13), label, fill=(40, 40, 40),
              font=font)
    return np.asarray(im)


def caption_room(image: np.ndarray, height: int = 64) -> np.ndarray:
    """A white band under an image for a gallery: gradio draws each caption over the bottom
    right of its picture, which would hide the colour bar's largest value. A caption is about
    26 px on screen, and a 4-column gallery shows a 320 px overlay about half size."""
    return np.concatenate([image, np.full((height, *image.shape[1:]), 255, image.dtype)])


def overlay(image: np.ndarray, scores: np.ndarray, vmax: float | None = None,
            signed: bool = False, alpha: float = 0.85, legend: bool = True) -> np.ndarray:
    """Heat map over an image. image: uint8 [H, W, 3]; scores: [h, w] (any grid that divides
    the image: a patch map is repeated to pixels). signed: diverging colours centred on 0
    (red up, blue down), else sequential from 0 (negative values clipped). legend: a colour
    bar with the scale's end values under the image.
    Returns uint8 [H' (+ bar), W', 3], upscaled for display."""
    H, W = image.shape[:2]
    s = np.asarray(scores, np.float64)
    s = np.repeat(np.repeat(s, H // s.shape[0], axis=0), W // s.shape[1], axis=1)  # [H, W]
    vmax = float(vmax if vmax else np.abs(s).max()) or 1.0
    if signed:
        idx = np.clip((s / vmax + 1) / 2, 0, 1)
        lut = LUTS["div"]
    else:
        idx = np.clip(s / vmax, 0, 1)
        lut = LUTS["seq"]
    colours = lut[(idx * 255).astype(int)]                                # [H, W, 3]
    # Weak values let the image show through, so the map reads as "where", not as a veil.
    weight = alpha * (np.abs(s) / vmax).clip(0, 1)[..., None] ** 0.5
    # The picture under the map is dimmed and half desaturated: on a bright or colourful
    # scene (mini-CLIP 2's pale backgrounds, a yellow lemon) the map's hot colours otherwise
    # hardly stand out, and a student reads the object's own colour as evidence.
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])     # [H, W]
    base = DIM * (0.5 * image + 0.5 * grey[..., None])                   # [H, W, 3]
    out = upscale(((1 - weight) * base + weight * colours).clip(0, 255).astype(np.uint8))
    return np.concatenate([out, colour_bar(out.shape[1], vmax, signed)]) if legend else out


def _step_titles(view: ClipView) -> list[str]:
    """The three steps' titles: CLIP's softmax over the prompts, or SigLIP's sigmoid per
    prompt (scale and bias), as `view.link` says."""
    if view.link == "sigmoid":
        return ["1. cosine(image, prompt)",
                f"2. × scale {view.logit_scale:.1f} + bias {view.logit_bias:+.1f} = logit",
                "3. sigmoid of each logit = probability"]
    return ["1. cosine(image, prompt)", f"2. × logit scale {view.logit_scale:.1f} = logit",
            "3. softmax over prompts = probability"]


def prediction_steps_figure(view: ClipView, image: int = 0) -> go.Figure:
    """Cosine -> x logit scale -> softmax (CLIP), or cosine -> x scale + bias -> sigmoid per
    prompt (SigLIP), one bar per prompt in each step."""
    prompts = [plotly_text(p) for p in view.prompts]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=_step_titles(view))
    for col, (vals, fmt) in enumerate([(view.cosine[image], ".3f"), (view.logits[image], ".2f"),
                                       (view.probs[image], ".1%")], start=1):
        fig.add_trace(go.Bar(x=vals.astype(np.float32), y=prompts, orientation="h",
                             marker_color=["crimson" if i == int(view.probs[image].argmax()) else
                                           "steelblue" for i in range(len(prompts))],
                             texttemplate=f"%{{x:{fmt}}}", textposition="auto",
                             hovertemplate=f"%{{y}}: %{{x:{fmt}}}<extra></extra>"), row=1, col=col)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_yaxes(showticklabels=True, row=1, col=1)
    fig.update_xaxes(range=[0, 1], row=1, col=3)
    bottom = 10
    if view.link == "sigmoid":
        # Said under the bars: the probabilities are independent yes/no answers, not shares.
        total = float(view.probs[image].sum())
        fig.add_annotation(text=f"SigLIP: each prompt's probability is its own sigmoid, "
                                f"independent of the other prompts:<br>they need not sum to 1 "
                                f"(here they sum to {total:.2f}); adding or removing a prompt "
                                "changes no other prompt's probability.",
                           xref="paper", yref="paper", x=0, y=0, yshift=-30, xanchor="left",
                           yanchor="top", align="left", showarrow=False, font={"size": 12})
        bottom = 80                      # room for the tick labels, then the two-line note
    fig.update_layout(showlegend=False, height=140 + 34 * len(prompts) + bottom - 10,
                      margin={"l": 10, "r": 10, "t": 40, "b": bottom})
    return fig


def similarity_matrix_figure(view: ClipView) -> go.Figure:
    """Probabilities [image, prompt] when several images are given (rows sum to 1 for a
    softmax model; each cell is its own sigmoid for SigLIP)."""
    labels = [f"image {i + 1}" for i in range(view.n_images)]
    fig = go.Figure(go.Heatmap(z=view.probs, x=[plotly_text(p) for p in view.prompts], y=labels, colorscale="Blues",
                               zmin=0, zmax=1, texttemplate="%{z:.2f}", customdata=view.cosine,
                               hovertemplate="%{y} · %{x}<br>p %{z:.3f}, cosine %{customdata:.3f}"
                                             "<extra></extra>"))
    fig.update_layout(height=120 + 40 * view.n_images, yaxis={"autorange": "reversed"},
                      margin={"l": 10, "r": 10, "t": 20, "b": 10})
    return fig


def embedding_figure(view: ClipView) -> go.Figure:
    """PCA of image and prompt embeddings: the two modalities sit apart (the modality gap)."""
    n = view.n_images
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=view.pca[:n, 0], y=view.pca[:n, 1], mode="markers+text",
                             text=[f"image {i + 1}" for i in range(n)], textposition="top center",
                             marker={"symbol": "square", "size": 14, "color": "darkorange"},
                             name="images"))
    fig.add_trace(go.Scatter(x=view.pca[n:, 0], y=view.pca[n:, 1], mode="markers+text",
                             text=[plotly_text(p) for p in view.prompts], textposition="top center",
                             marker={"size": 11, "color": "steelblue"}, name="prompts"))
    v = view.pca_variance
    fig.update_layout(height=460, xaxis_title=f"PC 1 ({v[0]:.0%} of variance)",
                      yaxis_title=f"PC 2 ({v[1]:.0%})", margin={"l": 10, "r": 10, "t": 20, "b": 10})
    return fig


def attention_over_patches(view: ClipView, image: int, layer: int, head: int,
                           query: int) -> np.ndarray:
    """One image-tower head: where token `query` (0 = [CLS] when there is one) looks, over
    the patch grid, drawn on the image. -> uint8 [H', W', 3]"""
    att = view.image_attention[image, layer, head, query]                   # [key]
    offset = len(view.image_tokens) - view.grid_rows * view.grid_cols      # 1 with [CLS]
    grid = att[offset:].reshape(view.grid_rows, view.grid_cols)            # [rows, cols]
    out = overlay(view.images[image], grid, legend=False)
    if query >= offset:                                                    # outline the query patch
        r, c = divmod(query - offset, view.grid_cols)
        k = out.shape[0] // view.grid_rows
        out[r * k:(r + 1) * k, [c * k, (c + 1) * k - 1]] = (0, 255, 120)
        out[[r * k, (r + 1) * k - 1], c * k:(c + 1) * k] = (0, 255, 120)
    vmax = float(np.abs(grid).max()) or 1.0
    return np.concatenate([out, colour_bar(out.shape[1], vmax, signed=False)])


# Below this spread (max - min, as a share of the largest size) the words' shading looks
# uniform: say so in words, or a student reads "every word mattered a lot".
FLAT_SPREAD = 0.35


def word_relevance_html(words: list[str], scores: np.ndarray) -> str:
    """A prompt's words shaded by relevance (sequential, escaped). When the words weigh
    about the same (spread under FLAT_SPREAD of the largest), a short note says so: the
    shading alone would look like strong evidence on every word."""
    s = np.asarray(scores, np.float64)
    top = float(np.abs(s).max()) if s.size else 0.0
    top = top or 1.0
    spans = []
    for w, v in zip(words, s):
        a = max(0.0, float(v)) / top
        spans.append(f'<span title="{v:.3f}" style="background: rgba(220,50,30,{a:.2f}); '
                     f'padding:1px 3px; border-radius:3px">{html.escape(w)}</span>')
    note = ""
    if len(words) > 1 and float(s.max() - s.min()) < FLAT_SPREAD * top:
        note = (f' <span class="mm-flat" style="color:#666; font-style:italic">— these words '
                f'weigh about the same ({s.min():.2f} to {s.max():.2f}): no word stands out</span>')
    return " ".join(spans) + note
