"""Plain-torch re-implementations of the image towers of the tiny CLIP families and of the
papers' recipes on top of them (LeGrad, Grad-ECLIP, MaskCLIP, SCLIP, last-layer relevance),
written apart from mminspect's explainers (no hooks, no attention-site tables): the
independent values tests/test_image_explainers.py compares the registry's maps with."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

F = torch.nn.functional


@dataclass
class Layer:
    ln1: Callable
    qkv: Callable            # h [T, D] -> (q, k, v) each [T, D]
    out: Callable            # context [T, D] -> [T, D] (output projection, bias included)
    after: Callable          # x after the attention's residual [T, D] -> the block's output
    heads: int


@dataclass
class Tower:
    embed: Callable          # pixels [1, 3, H, W] -> tokens [T, D]
    layers: list[Layer]
    norm: Callable           # final LayerNorm
    proj: Callable           # [.., D] -> [.., embed]


def _hf(adapter) -> Tower:
    vm, m = adapter.model.vision_model, adapter.model

    def layer(lay):
        a = lay.self_attn
        return Layer(lay.layer_norm1, lambda h: (a.q_proj(h), a.k_proj(h), a.v_proj(h)),
                     a.out_proj, lambda x: x + lay.mlp(lay.layer_norm2(x)), a.num_heads)
    return Tower(lambda px: vm.pre_layrnorm(vm.embeddings(px))[0],
                 [layer(lay) for lay in vm.encoder.layers], vm.post_layernorm,
                 m.visual_projection)


def _open_clip(adapter) -> Tower:
    v = adapter.model.visual

    def layer(b):
        a = b.attn
        return Layer(b.ln_1, lambda h: F.linear(h, a.in_proj_weight, a.in_proj_bias).chunk(3, -1),
                     a.out_proj, lambda x: x + b.ls_2(b.mlp(b.ln_2(x))), a.num_heads)
    return Tower(lambda px: v._embeds(px)[0], [layer(b) for b in v.transformer.resblocks],
                 v.ln_post, lambda z: z @ v.proj)


def _miniclip(adapter) -> Tower:
    vis = adapter.model.visual

    def layer(b):
        return Layer(b.ln1, lambda h: b.attn.qkv(h).chunk(3, -1), b.attn.proj,
                     lambda x: x + b.mlp(b.ln2(x)), b.attn.heads)
    return Tower(lambda px: vis.tokens(px)[0], [layer(b) for b in vis.blocks], vis.ln_f, vis.proj)


# Chinese-CLIP's image tower is CLIP's ViT under the same module names
TOWERS = {"hf_clip": _hf, "open_clip": _open_clip, "miniclip": _miniclip, "hf_chinese_clip": _hf}


def attend(q, k, v, heads, kind="softmax"):
    """Multi-head attention of [T, D] inputs -> (context [T, D], pattern [head, T, T])."""
    t, d = q.shape
    sp = lambda y: y.reshape(t, heads, d // heads).transpose(0, 1)        # noqa: E731
    q, k, v = sp(q), sp(k), sp(v)
    s = (d // heads) ** -0.5
    if kind == "softmax":
        a = (q @ k.transpose(1, 2) * s).softmax(-1)
    elif kind == "self_self":
        a = (q @ q.transpose(1, 2) * s).softmax(-1) + (k @ k.transpose(1, 2) * s).softmax(-1)
    else:                                                                  # "identity"
        a = torch.eye(t).expand(heads, t, t)
    return (a @ v).transpose(0, 1).reshape(t, d), a


def run(tower: Tower, pixels, last: str = "softmax"):
    """The manual forward. Returns dict: states (each block's output [T, D]), patterns
    ([head, T, T], requires grad), contexts ([T, D] entering the output projection),
    inputs (each block's input), qkv of each layer, final tokens."""
    x = tower.embed(pixels)
    out = {"states": [], "patterns": [], "contexts": [], "inputs": [], "qkv": []}
    for i, lay in enumerate(tower.layers):
        out["inputs"].append(x)
        q, k, v = lay.qkv(lay.ln1(x))
        kind = last if i == len(tower.layers) - 1 else "softmax"
        ctx, a = attend(q, k, v, lay.heads, kind)
        out["patterns"].append(a)
        out["contexts"].append(ctx)
        out["qkv"].append((q, k, v))
        x = lay.after(x + lay.out(ctx))
        out["states"].append(x)
    out["tokens"] = x
    return out


def legrad_ref(tower, pixels, t, layers=2):
    """LeGrad, from the paper and the authors' compute_legrad_clip: [token] before min-max."""
    pixels = pixels.clone().requires_grad_(True)
    r = run(tower, pixels)
    total = 0
    n = len(tower.layers)
    for i in range(max(0, n - layers), n):
        e = F.normalize(tower.proj(tower.norm(r["states"][i].mean(0))), dim=-1)
        g, = torch.autograd.grad(t @ e, r["patterns"][i], retain_graph=True)   # [head, T, T]
        total = total + g.clamp(min=0).mean(0).mean(0)
    return total.detach()


def grad_eclip_ref(tower, pixels, t, pool=0):
    """Grad-ECLIP's image map over all tokens [token] (the pooled token is `pool`)."""
    pixels = pixels.clone().requires_grad_(True)
    r = run(tower, pixels)
    lay = tower.layers[-1]
    e = F.normalize(tower.proj(tower.norm(r["tokens"][pool])), dim=-1)
    g, = torch.autograd.grad(t @ e, r["contexts"][-1])                       # [T, D]
    q, k, v = (y.detach() for y in r["qkv"][-1])
    qo, ko = lay.out(q), lay.out(k)
    cos = F.normalize(ko, dim=-1) @ F.normalize(qo[pool], dim=-1)           # [T]
    lam = (cos - cos.min()) / (cos.max() - cos.min())
    return ((g[pool] * v).sum(-1) * lam).clamp(min=0).detach()


def dense_ref(tower, pixels, t, kind):
    """MaskCLIP ("identity") / SCLIP ("self_self") patch cosines [patch] (CLS dropped)."""
    with torch.no_grad():
        r = run(tower, pixels, last=kind)
        p = F.normalize(tower.proj(tower.norm(r["tokens"][1:])), dim=-1)
        return p @ F.normalize(t, dim=-1)


def relevance_last_ref(tower, pixels, t, scale):
    """Chefer et al.'s rule on the last layer only: row 0 of I + mean_h(relu(dS/dA * A))."""
    r = run(tower, pixels)
    e = F.normalize(tower.proj(tower.norm(r["tokens"][0])), dim=-1)
    a = r["patterns"][-1]
    g, = torch.autograd.grad(scale * (t @ e), a)
    rel = torch.eye(a.shape[-1]) + (g * a).clamp(min=0).mean(0)
    return rel[0].detach()
