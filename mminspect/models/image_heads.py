"""Where each CLIP-style tower's heads enter their output projection, as data (the CLIP
counterpart of `families.HEAD_SITES`), for head ablation and patching (api/causal_clip.py,
api/causal_clip_text.py).

Keys of one entry:
- root: the attribute path, from the adapter, the other paths start at ("model" if absent);
- attention_out: the output projection of layer {layer}, whose input is the heads' context
  vectors [batch, token, head * d_head];
- layers: the tower's block list (each block's output is the residual stream);
- heads: the attribute path of the head count;
- expose: the transformer whose attention must be recomputed for `attention_out` to be
  called at all (capture/open_clip_heads.py): open_clip's nn.MultiheadAttention applies
  out_proj's weight inside the fused F.multi_head_attention_forward, so without the
  recomputation no hook sees its heads;
- text_adapter: the tower is a text adapter (mini-CLIP's frozen MiniLM): its sites are
  `families.HEAD_SITES[its model_type]`, not repeated here.
"""

# Keyed by adapter family (mini-CLIP has no config.model_type).
IMAGE_HEAD_SITES: dict[str, dict[str, str]] = {
    "hf_clip": {"attention_out": "vision_model.encoder.layers.{layer}.self_attn.out_proj",
                "layers": "vision_model.encoder.layers",
                "heads": "config.vision_config.num_attention_heads"},
    # SigLIP: the encoder's heads (the attention-pooling head's are not a site: its
    # nn.MultiheadAttention applies out_proj inside one fused call).
    "hf_siglip": {"attention_out": "vision_model.encoder.layers.{layer}.self_attn.out_proj",
                  "layers": "vision_model.encoder.layers",
                  "heads": "config.vision_config.num_attention_heads"},
    # open_clip's SigLIP image tower is timm's ViT: its proj is called as a module even on
    # the fused path, so no recomputation is needed to reach the heads.
    "open_clip_siglip": {"attention_out": "visual.trunk.blocks.{layer}.attn.proj",
                         "layers": "visual.trunk.blocks",
                         "heads": "visual.trunk.blocks.0.attn.num_heads"},
    "miniclip": {"attention_out": "visual.blocks.{layer}.attn.proj", "layers": "visual.blocks",
                 "heads": "visual.blocks.0.attn.heads"},
    "open_clip": {"attention_out": "visual.transformer.resblocks.{layer}.attn.out_proj",
                  "layers": "visual.transformer.resblocks",
                  "heads": "visual.transformer.resblocks.0.attn.num_heads",
                  "expose": "visual.transformer"},
}

# The text towers. open_clip's root is the adapter's `text`: the model itself for "CLIP",
# its `.text` for "CustomTextCLIP" (open_clip_adapter.TEXT_TOWERS).
TEXT_HEAD_SITES: dict[str, dict[str, str]] = {
    "hf_clip": {"attention_out": "text_model.encoder.layers.{layer}.self_attn.out_proj",
                "layers": "text_model.encoder.layers",
                "heads": "config.text_config.num_attention_heads"},
    "hf_siglip": {"attention_out": "text_model.encoder.layers.{layer}.self_attn.out_proj",
                  "layers": "text_model.encoder.layers",
                  "heads": "config.text_config.num_attention_heads"},
    "open_clip_siglip": {"root": "text", "attention_out": "transformer.resblocks.{layer}.attn.out_proj",
                         "layers": "transformer.resblocks",
                         "heads": "transformer.resblocks.0.attn.num_heads", "expose": "transformer"},
    "miniclip": {"text_adapter": "text"},
    "open_clip": {"root": "text", "attention_out": "transformer.resblocks.{layer}.attn.out_proj",
                  "layers": "transformer.resblocks",
                  "heads": "transformer.resblocks.0.attn.num_heads", "expose": "transformer"},
}
