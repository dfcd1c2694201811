"""Where each CLIP-style image tower's heads enter their output projection, as data (the
image-side counterpart of `families.HEAD_SITES`), for head ablation (api/causal_clip.py)."""

# Keyed by adapter family (mini-CLIP has no config.model_type). attention_out: the output
# projection, from the adapter's `model`; layers: the tower's block list; heads: the attribute
# path of the head count. open_clip is absent: its nn.MultiheadAttention applies out_proj's
# weight inside F.multi_head_attention_forward, so no hook sees the heads.
IMAGE_HEAD_SITES: dict[str, dict[str, str]] = {
    "hf_clip": {"attention_out": "vision_model.encoder.layers.{layer}.self_attn.out_proj",
                "layers": "vision_model.encoder.layers",
                "heads": "config.vision_config.num_attention_heads"},
    "miniclip": {"attention_out": "visual.blocks.{layer}.attn.proj", "layers": "visual.blocks",
                 "heads": "visual.blocks.0.attn.heads"},
}
