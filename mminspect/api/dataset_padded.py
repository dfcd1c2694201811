"""Many texts in one forward pass: the dataset batch's rows padded to one length.

Explaining one short text costs a dozen small forward passes (the prediction, f(input)
and f(baseline), each Integrated Gradients try, the deletion / insertion curves, one per
layer for the head scan), and a small forward is mostly fixed cost: on 2 busy cores one
11-token item took 22 ms alone and 8 ms in a batch of 64; an autocast (bfloat16) call
casts the weights first, 59 ms alone and 3 ms per item in a batch of 64. So dataset mode
runs each of these steps for all the batch's rows at once: every row's items are padded
with zeros to the longest text of the call, the attention mask is 0 on the padding, and
each row's outputs are cut back to its own tokens before its own target scores them.

Padding leaves a row's numbers the same up to float rounding (the attention gives the
padding weight 0; matrix products of another shape may add in another order): the
dataset tests compare every column with the single-input API.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from ..explain.attribution.problem import batch_for_memory


# Tokens per forward call, padding included. Bigger calls were slower per item on 2 busy
# cores (MiniLM, 11-token items, one thread: 6-8 ms per item in calls of 64-128 items,
# 11 ms at 256-640: the activations no longer fit the caches); smaller ones pay the fixed
# cost of a call more often.
CALL_TOKENS = 1536


def _pad(x: torch.Tensor, n: int) -> torch.Tensor:
    """[k, T, ...] -> [k, n, ...], zeros after the T real positions."""
    return F.pad(x, (0, 0) * (x.dim() - 2) + (0, n - x.shape[1]))


def _rows_of(outputs, a: int, b: int, n_tokens: int):
    """Items a..b of a padded forward's outputs, cut to the row's own n_tokens positions
    (fields with a token axis: hidden states, a language model's logits), as an object
    with the same attribute names, for the row's Target.score."""
    cut = {}
    for name, value in outputs.items():
        if torch.is_tensor(value) and value.dim() >= 1:
            cut[name] = value[a:b, :n_tokens] if value.dim() >= 3 else value[a:b]
    return SimpleNamespace(**cut)


class Padded:
    """Runs [(row, embeds [k, T_row, d])] parts through the model together.

    row: an object with .enc (the row's Encoded text) and .bound (its Target, bound to
    it). memory_mb sets the items per forward (batch_for_memory, as one text would); a
    part bigger than what is left of a call is split across calls."""

    def __init__(self, adapter, memory_mb: float):
        self.adapter, self.memory_mb = adapter, memory_mb
        self.sizes = adapter.sizes()

    def _calls(self, parts, per_item: int):
        """Pieces (part index, start, end) grouped into calls, shortest texts first so a
        call pads little; each call holds at most its longest text's memory batch."""
        order = sorted(range(len(parts)), key=lambda i: parts[i][1].shape[1])
        calls, call, used = [], [], 0
        for i in order:
            k, n = parts[i][1].shape[0], parts[i][1].shape[1]
            cap = max(1, min(batch_for_memory(self.sizes, n, self.memory_mb) * per_item,
                             CALL_TOKENS // n))
            start = 0
            while start < k:
                if used >= cap:                  # full (a longer text lowers the cap)
                    calls.append(call)
                    call, used = [], 0
                take = min(k - start, cap - used)
                call.append((i, start, start + take))
                used, start = used + take, start + take
        return calls + ([call] if call else [])

    def _forward(self, pieces, spread: int = 1):
        """One forward of `pieces` [(row, embeds [k, T, d])] -> [k * spread] target values
        each (spread: the items each one becomes inside the model, see _spread)."""
        n = max(x.shape[1] for _, x in pieces)
        embeds = torch.cat([_pad(x, n) for _, x in pieces])             # [items, n, d]
        keys = [k for k in pieces[0][0].enc.inputs if k != "input_ids"]
        inputs = {key: torch.cat([_pad(row.enc.inputs[key].expand(x.shape[0], -1), n)
                                  for row, x in pieces]) for key in keys}   # [items, n]
        outputs = self.adapter.forward_embeds(embeds, SimpleNamespace(inputs=inputs))
        out, a = [], 0
        for row, x in pieces:
            k, t = x.shape[0] * spread, x.shape[1]
            mask = row.enc.inputs["attention_mask"].expand(k, -1)      # [k, t]
            out.append(row.bound.score(self.adapter, _rows_of(outputs, a, a + k, t), mask))
            a += k
        return out

    def scores(self, parts, dtype: torch.dtype | None = None) -> list[torch.Tensor]:
        """[k] target values per part, no gradient; dtype: autocast (the curves' precision,
        as api/attribution's in_precision), results in float32."""
        cast = (torch.autocast(self.adapter.device.type, dtype=dtype) if dtype is not None
                else nullcontext())
        got: list[list] = [[] for _ in parts]
        with torch.no_grad(), cast:
            for call in self._calls(parts, 3):   # no backward: ~3x the items fit (as curves)
                pieces = [(parts[i][0], parts[i][1][s:e]) for i, s, e in call]
                for (i, _, _), value in zip(call, self._forward(pieces)):
                    got[i].append(value.float())
        return [torch.cat(g) for g in got]

    def gradients(self, parts) -> list[torch.Tensor]:
        """The gradient of each item's target at each item's embeddings, like the parts:
        one backward per call (the items do not mix, so each item's gradient is its own)."""
        got: list[list] = [[] for _ in parts]
        for call in self._calls(parts, 1):
            leaves = [parts[i][1][s:e].detach().clone().requires_grad_(True) for i, s, e in call]
            with torch.enable_grad():
                values = self._forward([(parts[i][0], x) for (i, _, _), x in zip(call, leaves)])
                grads = torch.autograd.grad(torch.cat(values).sum(), leaves)
            for (i, _, _), g in zip(call, grads):
                got[i].append(g)
        return [torch.cat(g) for g in got]


@contextmanager
def _spread(blocks, first: int, n_rows: int, k: int):
    """From block `first` on, each row's one item becomes k items (repeat_interleave):
    the layers below an ablated layer run once per row, as the single-input scan runs
    them once per text (api/causal._layer_groups). Every tensor argument whose first axis
    is the rows' (the hidden states, the attention mask) is repeated."""
    def grow(x):
        if torch.is_tensor(x) and x.dim() and x.shape[0] == n_rows:
            return x.repeat_interleave(k, 0)
        if isinstance(x, tuple):
            return tuple(grow(y) for y in x)
        return x

    def hook(module, args, kwargs):
        return tuple(grow(a) for a in args), {key: grow(v) for key, v in kwargs.items()}

    handles = [b.register_forward_pre_hook(hook, with_kwargs=True) for b in blocks[first:]]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def head_scan(padded: Padded, rows, sites, edit_heads) -> list[torch.Tensor]:
    """Per row, [layer, head]: the row's target with that head's context zeroed, as
    api/causal.head_importance's scan ("zero" mode), all rows of a call together: per
    layer one forward whose row r becomes n_heads items at that layer, item h without
    head h. Returns the targets after (the caller subtracts f(input))."""
    n_layers, n_heads = sites.n_layers, sites.n_heads
    longest = max(len(r.enc.tokens) for r in rows)
    per_call = max(1, min(3 * batch_for_memory(padded.sizes, longest, padded.memory_mb),
                          CALL_TOKENS // longest) // n_heads)
    out = [torch.zeros(n_layers, n_heads) for _ in rows]
    emb = padded.adapter.input_embeddings()
    for a in range(0, len(rows), per_call):
        group = rows[a:a + per_call]
        with torch.no_grad():
            parts = [(r, emb(r.enc.inputs["input_ids"])) for r in group]   # [1, T, d] each
            for layer in range(n_layers):
                select = {layer: torch.eye(n_heads, dtype=torch.bool).repeat(len(group), 1)}
                values = {layer: torch.zeros(())}
                with _spread(sites.blocks, layer, len(group), n_heads), \
                        edit_heads(sites.attention_out, n_heads, select, values):
                    after = padded._forward(parts, spread=n_heads)
                for r, v in enumerate(after):
                    out[a + r][layer] = v
    return out
