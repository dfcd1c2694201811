"""Hugging Face text transformers (BERT family, MiniLM, DistilBERT, GPT-2 family), through the
Auto class of their task (`tasks.AUTO_CLASSES`: embedding, classifier, fill-mask, next token)."""
from __future__ import annotations

import numpy as np
import torch
from transformers import AutoConfig, AutoTokenizer

from ..types import InputError
from .base import Encoded, Internals, TextAdapter
from .devices import choose_device
from .families import clean_token
from .tasks import AUTO_CLASSES, LENS_HEADS, detect_kind

# tokens of one embedding batch, padding included (a 512-token text plus 7 of its length)
EMBED_BATCH_TOKENS = 4096
MAX_CHARS = 20_000   # tokenizing more is wasted work: only max_tokens (<= 512) are inspected


class HFTextAdapter(TextAdapter):
    family = "hf_text"

    def __init__(self, name: str, path: str, label: str, kind: str | None = None,
                 pooling: str = "mean", normalize: bool = True, device: str | None = None):
        self.name, self.label = name, label
        self.pooling, self.normalize = pooling, normalize
        self.device = choose_device(device)
        config = AutoConfig.from_pretrained(path, trust_remote_code=False)
        self.kind = kind or detect_kind(config)             # what the head predicts, from the config
        self.causal = self.kind == "causal_lm"
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        if self.tokenizer.pad_token is None:                 # GPT-2 has none; batching needs one
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # eager attention: SDPA returns no attention weights; float32: attribution on CPU.
        self.model = AUTO_CLASSES[self.kind].from_pretrained(
            path, attn_implementation="eager", dtype=torch.float32, trust_remote_code=False,
            use_safetensors=True).to(self.device).eval()
        cfg = self.model.config
        self.model_type = cfg.model_type
        self.n_layers = cfg.num_hidden_layers if hasattr(cfg, "num_hidden_layers") else cfg.n_layer
        limits = [getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None),
                  self.tokenizer.model_max_length]
        self.max_tokens = int(min(x for x in limits if x and x < 1_000_000))

    def encode(self, text: str) -> Encoded:
        if not isinstance(text, str) or not text.strip():
            raise InputError("The text is empty. Type a sentence to inspect.")
        if len(text) > MAX_CHARS:
            raise InputError(f"The text is {len(text):,} characters; the limit is {MAX_CHARS:,}. "
                             f"Paste a shorter passage (only the first {self.max_tokens} tokens "
                             "are inspected anyway).")
        full = len(self.tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])
        enc = self.tokenizer(text, truncation=True, max_length=self.max_tokens,
                             return_offsets_mapping=True, return_special_tokens_mask=True,
                             return_tensors="pt")
        ids = enc["input_ids"][0]                                         # [token]
        special = enc.pop("special_tokens_mask")[0].numpy().astype(bool)  # [token]
        offsets = enc.pop("offset_mapping")[0].numpy()                    # [token, 2]
        if special.all():
            raise InputError("Nothing is left to inspect after tokenization: the text holds only "
                             "characters this tokenizer drops (control or invisible characters). "
                             "Type some words.")
        pieces = self.tokenizer.convert_ids_to_tokens(ids.tolist())
        tokens = [clean_token(p, self.model_type) for p in pieces]
        unk = self.tokenizer.unk_token
        for i, (piece, (a, b)) in enumerate(zip(pieces, offsets)):
            if piece == unk and b > a:  # show what the vocabulary could not represent
                tokens[i] = f"{unk} {text[a:b]}"
        inputs = {k: v.to(self.device) for k, v in enc.items()}
        return Encoded(inputs=inputs, tokens=tokens, offsets=offsets, special=special,
                       n_dropped=max(0, full - len(tokens)))

    @torch.no_grad()
    def internals(self, enc: Encoded) -> Internals:
        out = self.model(**enc.inputs, output_attentions=True, output_hidden_states=True)
        if len(out.attentions) != self.n_layers:
            raise RuntimeError(f"{self.name}: got {len(out.attentions)} attention maps for "
                               f"{self.n_layers} layers; load with attn_implementation='eager'.")
        att = torch.stack(out.attentions)[:, 0]                   # [layer, head, query, key]
        hid = torch.stack(out.hidden_states)[:, 0]                 # [layer + 1, token, d_model]
        logits = out.logits[0] if getattr(out, "logits", None) is not None else None
        return Internals(attentions=att, hidden=hid, logits=logits)

    def require_lens(self) -> dict:
        """Where the final norm and head live, or a clear refusal for models without them."""
        spec = LENS_HEADS.get(self.model_type)
        if spec is None or self.kind not in ("causal_lm", "masked_lm"):
            raise InputError(f"The layer-by-layer view needs a masked or causal language model "
                             f"of a known family ({', '.join(LENS_HEADS)}); {self.name} is a "
                             f"{self.model_type} {self.kind.replace('_', ' ')} model.")
        return spec

    def lens_logits(self, hidden: torch.Tensor, layer: int) -> torch.Tensor:
        """One layer's residual stream through the final norm and the output head.

        hidden: [token, d_model], row `layer` of `Internals.hidden` (0 = embeddings) ->
        logits [token, vocab]. At layer == n_layers this equals the model's own logits (tested).
        One layer at a time: all layers at once would be [layer, token, vocab], 1.3 GB for
        GPT-2 at 512 tokens.
        """
        spec = self.require_lens()
        h = hidden
        if spec["norm"] and not (spec["last_normed"] and layer == self.n_layers):
            h = self.model.get_submodule(spec["norm"])(h)
        for path in spec["head"]:
            h = self.model.get_submodule(path)(h)
        return h                                                   # [token, vocab]

    def pool(self, last_hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Sentence embedding from the last hidden state, differentiable.

        last_hidden: [batch, token, d_model]; mask: [batch, token] -> [batch, d_model].
        """
        if self.pooling == "cls":
            emb = last_hidden[:, 0]
        else:  # mean over real tokens, as sentence-transformers' Pooling(mean) does
            m = mask.unsqueeze(-1).to(last_hidden.dtype)           # [batch, token, 1]
            emb = (last_hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(emb, dim=-1) if self.normalize else emb

    def input_embeddings(self) -> torch.nn.Embedding:
        """The word-embedding layer (token id -> vector): where token attributions are taken."""
        return self.model.get_input_embeddings()

    def forward_embeds(self, embeds: torch.Tensor, enc: Encoded):
        """The model's outputs from word embeddings [batch, token, d_model], with gradients.

        Position and token-type embeddings are still added inside the model, so this equals
        the forward from `input_ids` when `embeds` are their word embeddings. The other inputs
        of `enc` (attention mask, token types) are repeated over the batch.
        """
        batch = embeds.shape[0]
        kwargs = {k: v.expand(batch, -1) for k, v in enc.inputs.items() if k != "input_ids"}
        return self.model(inputs_embeds=embeds, **kwargs)

    def token_id(self, role: str) -> int | None:
        """The id of the tokenizer's `role` token ("pad", "mask", "unk"...), None if it has none."""
        return getattr(self.tokenizer, f"{role}_token_id", None)

    @torch.no_grad()
    def embed(self, texts: list[str], batch_tokens: int = EMBED_BATCH_TOKENS) -> np.ndarray:
        """[len(texts), d]. Texts go in batches of similar length: one batch padded to its
        longest text made 50 short labels beside one 512-token text cost 52 x 512 tokens
        (51 s and +1.7 GB on 2 CPU cores, against ~1 s this way); the attention mask keeps
        each text's embedding the same in any batch."""
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_tokens)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out = np.zeros((len(texts), 0), dtype=np.float32)
        chunk: list[int] = []
        for pos, i in enumerate(order):
            chunk.append(i)
            nxt = order[pos + 1] if pos + 1 < len(order) else None
            # the batch is padded to its last (longest) text: close it before it grows too big
            if nxt is None or (len(chunk) + 1) * len(ids[nxt]) > batch_tokens:
                vecs = self._embed_batch([texts[j] for j in chunk])       # [chunk, d]
                if out.shape[1] == 0:
                    out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
                out[chunk] = vecs
                chunk = []
        return out

    @torch.no_grad()
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                             return_tensors="pt").to(self.device)
        out = self.model(**enc, output_hidden_states=True)        # task models have no last_hidden_state
        return self.pool(out.hidden_states[-1], enc["attention_mask"]).float().cpu().numpy()
