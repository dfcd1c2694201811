"""Hugging Face encoder–decoders of the T5 family (T5ForConditionalGeneration).

An encoder reads the source text; a decoder writes the target one token at a time and, in
every layer, reads the encoder's output through cross-attention. This adapter returns the
three kinds of attention as arrays [layer, head, query, key] for batch item 0:

- encoder self-attention  [layer, head, source, source]
- decoder self-attention  [layer, head, target, target]  (causal)
- cross-attention         [layer, head, target, source]

Loaded like every Hugging Face model here: eager attention (the other kernels return no
weights), float32, safetensors only, no remote code.
"""
from __future__ import annotations

import numpy as np
import torch
from transformers import AutoTokenizer, T5ForConditionalGeneration

from ..capture.heads import capture_residual
from ..types import ModelLoadError
from .base import ModelAdapter
from .devices import choose_device
from .hf_loading import load_eager
from .families import clean_token

# T5 has relative positions, so no hard length; its pretraining read 512 source tokens, and
# the encoder's attention grows with the square of the length.
MAX_SOURCE_TOKENS = 512


class HFT5Adapter(ModelAdapter):
    family = "hf_t5"
    seq2seq = True          # what api/seq2seq.py checks: an encoder–decoder with cross-attention

    def __init__(self, name: str, path: str, label: str, device: str | None = None):
        self.name, self.label = name, label
        self.device = choose_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        self.model = load_eager(T5ForConditionalGeneration, path, self.device)
        cfg = self.model.config
        if cfg.decoder_start_token_id is None:
            raise ModelLoadError(f"{name}: its config names no decoder_start_token_id, so the "
                                 "decoder has no first token to read.")
        self.model_type = cfg.model_type
        self.max_source_tokens = MAX_SOURCE_TOKENS

    @property
    def modalities(self) -> tuple[str, ...]:
        # Not ("text",): the text tab's functions read one sequence through one stack and
        # would misread an encoder–decoder; api/seq2seq.py is its way in.
        return ("seq2seq",)

    def sizes(self) -> dict[str, int]:
        cfg = self.model.config
        return {"layers": int(cfg.num_layers), "decoder_layers": int(cfg.num_decoder_layers),
                "d_model": int(cfg.d_model), "heads": int(cfg.num_heads)}

    # --- tokens -------------------------------------------------------------------------
    def token_ids(self, text: str) -> list[int]:
        """The ids of a text as the model reads it, with T5's end token </s> (not truncated)."""
        return list(self.tokenizer(text, verbose=False)["input_ids"])

    def tokens(self, ids: list[int]) -> list[str]:
        """Display strings: SentencePiece's "▁" read as a space. The output head may be wider
        than the vocabulary (t5-small: 32,128 rows, 32,100 pieces); such an id shows as "<id n>"."""
        pieces = self.tokenizer.convert_ids_to_tokens(list(ids))
        return [f"<id {i}>" if p is None else clean_token(p, self.model_type) for i, p in zip(ids, pieces)]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    @property
    def start_id(self) -> int:
        return int(self.model.config.decoder_start_token_id)

    @property
    def end_id(self) -> int:
        return int(self.model.config.eos_token_id)

    # --- forward passes -----------------------------------------------------------------
    def _ids(self, ids: list[int]) -> torch.Tensor:
        return torch.tensor([list(ids)], dtype=torch.long, device=self.device)   # [1, token]

    @torch.no_grad()
    def teacher_forced(self, source_ids: list[int], target_ids: list[int]) -> dict[str, np.ndarray]:
        """One forward pass that reads the whole target at once (the decoder reads the start
        token, then the target shifted right): {"encoder", "decoder", "cross"} attentions."""
        decoder_ids = [self.start_id, *target_ids[:-1]]
        out = self.model(input_ids=self._ids(source_ids), decoder_input_ids=self._ids(decoder_ids),
                         output_attentions=True, use_cache=False)
        self._check_layers(out.cross_attentions)
        stack = lambda t: torch.stack(t)[:, 0].float().cpu().numpy()   # noqa: E731 [layer, head, q, k]
        return {"encoder": stack(out.encoder_attentions), "decoder": stack(out.decoder_attentions),
                "cross": stack(out.cross_attentions)}

    @torch.no_grad()
    def generate(self, source_ids: list[int], max_new_tokens: int) -> tuple[list[int], dict[str, np.ndarray]]:
        """Greedy decoding, the attentions of each step as it wrote (with the key/value cache,
        so step t sees only one query row): (the written ids, {"encoder", "decoder", "cross"})."""
        out = self.model.generate(input_ids=self._ids(source_ids), max_new_tokens=max_new_tokens,
                                  do_sample=False, num_beams=1, output_attentions=True,
                                  return_dict_in_generate=True)
        written = out.sequences[0, 1:].tolist()              # the first one is the start token
        steps = len(out.cross_attentions)                   # one tuple over layers per step
        self._check_layers(out.cross_attentions[0])
        n_layers = len(out.cross_attentions[0])
        heads, n_src = out.cross_attentions[0][0].shape[1], len(source_ids)
        cross = np.zeros((n_layers, heads, steps, n_src), np.float32)   # [layer, head, T, S]
        dec = np.zeros((n_layers, heads, steps, steps), np.float32)     # [layer, head, T, T]
        for t in range(steps):
            for layer in range(n_layers):
                cross[layer, :, t] = out.cross_attentions[t][layer][0, :, -1].float().cpu().numpy()
                row = out.decoder_attentions[t][layer][0, :, -1].float().cpu().numpy()  # [head, t+1]
                dec[layer, :, t, : row.shape[-1]] = row
        enc = torch.stack(out.encoder_attentions)[:, 0].float().cpu().numpy()
        return written[:steps], {"encoder": enc, "decoder": dec, "cross": cross}

    @torch.no_grad()
    def decoder_lens(self, source_ids: list[int], target_ids: list[int], k: int = 5) -> dict[str, np.ndarray]:
        """The logit lens over the decoder (teacher-forced on `target_ids`): each block's
        output through the final norm, T5's 1/sqrt(d_model) rescale (when the config asks for
        it) and the output head. {"top_ids", "top_probs": [layer, T, k], "target_probs":
        [layer, T]}; the last layer equals the model's own output."""
        decoder_ids = [self.start_id, *target_ids[:-1]]
        m = self.model
        with capture_residual(list(m.decoder.block)) as store:
            m(input_ids=self._ids(source_ids), decoder_input_ids=self._ids(decoder_ids), use_cache=False)
        hidden = torch.stack([store[i][0] for i in range(len(store))])     # [layer, T, d_model]
        hidden = m.decoder.final_layer_norm(hidden)
        if getattr(m.config, "scale_decoder_outputs", m.config.tie_word_embeddings):
            hidden = hidden * m.model_dim ** -0.5
        probs = m.lm_head(hidden).float().softmax(-1)                      # [layer, T, vocab]
        top = probs.topk(min(k, probs.shape[-1]), dim=-1)                  # [layer, T, k]
        target = torch.tensor(target_ids, device=probs.device)             # [T]
        picked = probs.gather(-1, target.view(1, -1, 1).expand(probs.shape[0], -1, 1))[..., 0]
        return {"top_ids": top.indices.cpu().numpy(), "top_probs": top.values.cpu().numpy(),
                "target_probs": picked.cpu().numpy()}

    def _check_layers(self, attentions) -> None:
        if not attentions:
            raise RuntimeError(f"{self.name}: no cross-attention came back; load with "
                               "attn_implementation='eager'.")
