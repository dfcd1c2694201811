"""Hugging Face vision–language models of the LLaVA family (LlavaForConditionalGeneration).

A vision tower (CLIP or SigLIP) cuts the picture into patches; a small projector turns each
patch's vector into one IMAGE TOKEN, and these tokens are put into the language model's
sequence where the prompt says `<image>`. The language model (Llama, Qwen2, ...) then reads
words and patches in one sequence (fusion by concatenation), so each token it writes reads
the image through its ordinary self-attention. One image token per patch, in row order: the
grid is the vision tower's own (image_size / patch_size per side), so every image token maps
back to one patch.

Where the parts live is the family's spec (models/arch.py, "hf_llava"); this adapter reads its
paths from there. Loaded like every Hugging Face model here: eager attention (the faster
kernels return no weights), float32, safetensors only, no remote code.
"""
from __future__ import annotations

from contextlib import contextmanager
from operator import attrgetter

import numpy as np
import torch
from transformers import AutoProcessor, LlavaForConditionalGeneration

from ..capture.heads import capture_residual
from ..types import InputError, ModelLoadError
from .arch import ARCHS
from .base import ModelAdapter
from .devices import choose_device
from .hf_loading import load_eager

LENS_CHUNK = 64          # positions read through the output head at once (vocabularies are wide)


class HFLlavaAdapter(ModelAdapter):
    family = "hf_llava"
    vlm = True              # what api/vlm.py checks

    def __init__(self, name: str, path: str, label: str, device: str | None = None):
        self.name, self.label, self.device = name, label, choose_device(device)
        self.processor = AutoProcessor.from_pretrained(path, trust_remote_code=False)
        self.model = load_eager(LlavaForConditionalGeneration, path, self.device)
        cfg = self.model.config
        if not isinstance(cfg.vision_feature_layer, int):
            raise ModelLoadError(f"{name}: its image tokens join several vision layers "
                                 "(vision_feature_layer is a list); only one layer is supported.")
        vision = cfg.vision_config
        self.rows = self.cols = int(vision.image_size) // int(vision.patch_size)
        self.image_token_id = int(cfg.image_token_id)
        self.image_token = self.processor.image_token
        text = ARCHS[self.family].towers["text"]
        self.language_model = attrgetter(text["root"])(self)
        self.blocks = list(attrgetter(text["blocks"])(self.language_model))
        self.n_heads = int(cfg.text_config.num_attention_heads)
        self.end_id = self.processor.tokenizer.eos_token_id

    @property
    def modalities(self) -> tuple[str, ...]:
        # Not ("image", "text"): a CLIP-style pair has two towers that meet at one cosine;
        # here the picture is read inside the language model (api/vlm.py is its way in).
        return ("vlm",)

    def sizes(self) -> dict[str, int]:
        cfg = self.model.config
        return {"layers": len(self.blocks), "heads": self.n_heads,
                "d_model": int(cfg.text_config.hidden_size),
                "vision_layers": int(cfg.vision_config.num_hidden_layers),
                "rows": self.rows, "cols": self.cols}

    # --- inputs -------------------------------------------------------------------------
    def format_prompt(self, prompt: str) -> str:
        """The prompt as the checkpoint was trained to read it: its chat template when it has
        one (the picture first, then the question), else `<image>` and the prompt."""
        if getattr(self.processor, "chat_template", None):
            turn = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
            return self.processor.apply_chat_template(turn, add_generation_prompt=True)
        return f"{self.image_token} {prompt}"

    def prepare(self, image, prompt: str) -> dict[str, torch.Tensor]:
        """The model's inputs for one picture (PIL, RGB) and one prompt (input_ids with the
        image tokens expanded, pixel_values, attention_mask)."""
        if self.image_token in prompt:
            raise InputError(f"The prompt holds {self.image_token!r}, the model's own marker for "
                             "the picture; it is added once for you. Remove it from the prompt.")
        inputs = self.processor(images=image, text=self.format_prompt(prompt), return_tensors="pt")
        n_image = int((inputs["input_ids"] == self.image_token_id).sum())
        extra = n_image - self.rows * self.cols
        if extra not in (0, 1):
            raise ModelLoadError(f"{self.name}: {n_image} image tokens do not map to its "
                                 f"{self.rows}x{self.cols} patch grid (tiled or pooled images "
                                 "are not supported).")
        return {k: v.to(self.device) for k, v in inputs.items()}

    def image_positions(self, input_ids: torch.Tensor) -> list[int]:
        return (input_ids[0] == self.image_token_id).nonzero()[:, 0].tolist()

    def seen_image(self, pixel_values: torch.Tensor) -> np.ndarray:
        """The picture as the vision tower saw it (resized, cropped, normalisation undone):
        uint8 [H, W, 3], for the maps drawn over it."""
        proc = self.processor.image_processor
        mean = torch.tensor(proc.image_mean).view(3, 1, 1)
        std = torch.tensor(proc.image_std).view(3, 1, 1)
        rgb = pixel_values[0].float().cpu() * std + mean                  # [3, H, W] in [0, 1]
        rgb = (rgb.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        # the patches cover rows * patch_size pixels; a remainder (384 px, 14 px patches: 6 px)
        # is never read by the vision tower's convolution, so it is not shown either
        p = int(self.model.config.vision_config.patch_size)
        return rgb[: self.rows * p, : self.cols * p]

    # --- tokens -------------------------------------------------------------------------
    def token_ids(self, text: str) -> list[int]:
        return list(self.processor.tokenizer(text, add_special_tokens=False)["input_ids"])

    def tokens(self, ids: list[int]) -> list[str]:
        """Display strings, each id decoded alone (byte-level and SentencePiece pieces alike)."""
        return [self.processor.tokenizer.decode([int(i)]) for i in ids]

    # --- forward passes -----------------------------------------------------------------
    def _sequence(self, inputs: dict, target_ids: list[int]) -> dict[str, torch.Tensor]:
        """The prompt and the written tokens but the last: what the model read to write them."""
        extra = torch.tensor([list(target_ids[:-1])], dtype=torch.long, device=self.device)
        ids = torch.cat([inputs["input_ids"], extra], dim=1)                  # [1, N]
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                "pixel_values": inputs["pixel_values"]}

    @torch.no_grad()
    def generate(self, inputs: dict, max_new_tokens: int) -> list[int]:
        """Greedy decoding; the image token is never written (it would add a picture)."""
        out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                  num_beams=1, suppress_tokens=[self.image_token_id])
        return out[0, inputs["input_ids"].shape[1]:].tolist()

    @contextmanager
    def _writer_rows(self, rows: list[int]):
        """Yields {layer: [head, len(rows), N]}: each layer's attention weights, only the
        rows of the writing positions kept (a full [head, N, N] per layer would hold
        hundreds of MB for a real picture's 729 image tokens)."""
        store: dict[int, torch.Tensor] = {}
        index = torch.tensor(rows, device=self.device)

        def make(layer: int):
            def hook(module, args, output):
                weights = output[1]                                           # [1, head, N, N]
                if weights is None:
                    raise RuntimeError(f"{self.name}: no attention weights came back; load "
                                       "with attn_implementation='eager'.")
                store[layer] = weights[0].index_select(1, index).float().cpu()  # [head, R, N]
            return hook

        handles = [b.self_attn.register_forward_hook(make(i)) for i, b in enumerate(self.blocks)]
        try:
            yield store
        finally:
            for h in handles:
                h.remove()

    @torch.no_grad()
    def read(self, inputs: dict, target_ids: list[int]) -> np.ndarray:
        """One forward pass over the prompt and the target: float32 [layer, head, T, N], the
        attention rows of the positions that wrote each target token."""
        seq = self._sequence(inputs, target_ids)
        start = inputs["input_ids"].shape[1] - 1
        with self._writer_rows(list(range(start, start + len(target_ids)))) as store:
            self.model(**seq, use_cache=False)
        return torch.stack([store[i] for i in range(len(self.blocks))]).numpy()

    @torch.no_grad()
    def lens(self, inputs: dict, target_ids: list[int], k: int = 5) -> dict[str, np.ndarray]:
        """The logit lens at every position: each block's output through the language model's
        final norm and the output head. {"top_ids", "top_probs": [layer, N, k],
        "target_probs": [layer, T]}; the last layer equals the model's own output."""
        seq = self._sequence(inputs, target_ids)
        with capture_residual(self.blocks) as store:
            self.model(**seq, use_cache=False)
        start = inputs["input_ids"].shape[1] - 1
        writers = torch.arange(start, start + len(target_ids))                # [T]
        target = torch.tensor(target_ids)                                     # [T]
        top_ids, top_probs, picked = [], [], []
        for layer in range(len(self.blocks)):
            hidden = store[layer][0]                                          # [N, d_model]
            ids, probs, mine = [], [], torch.zeros(len(target_ids))
            for lo in range(0, hidden.shape[0], LENS_CHUNK):
                p = self._head(hidden[lo:lo + LENS_CHUNK])                    # [chunk, vocab]
                top = p.topk(min(k, p.shape[-1]), dim=-1)
                ids.append(top.indices.cpu())
                probs.append(top.values.cpu())
                inside = (writers >= lo) & (writers < lo + p.shape[0])
                rows = (writers[inside] - lo).to(p.device)
                mine[inside] = p[rows, target[inside].to(p.device)].cpu()
            top_ids.append(torch.cat(ids))
            top_probs.append(torch.cat(probs))
            picked.append(mine)
        return {"top_ids": torch.stack(top_ids).numpy(), "top_probs": torch.stack(top_probs).numpy(),
                "target_probs": torch.stack(picked).numpy()}

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        """[position, d_model] residual -> [position, vocab] probabilities (final norm, head)."""
        return self.model.lm_head(self.language_model.norm(hidden)).float().softmax(-1)
