"""mini-CLIP: the small CLIP-style models we train ourselves and ship in assets/miniclip and
assets/miniclip2 (mini-CLIP 2: the same model, trained on `world`).

scenes         mini-CLIP 1's synthetic shape scenes with exact per-object masks
captions       caption templates (synonyms, relations) and zero-shot prompts
world          mini-CLIP 2's world: any background, 1-4 shapes or everyday things, overlapping
everyday       the 64 everyday things (Noto Color Emoji) and their names
world_captions captions per scene and per object; colour-swapped captions (binding)
vit            the image tower (conv stem, 2-D sin-cos positions, attention in the autograd graph)
model          image tower + projection of the frozen MiniLM + temperature, and the InfoNCE loss

This package is the model and its data, nothing else: it imports only torch, numpy, Pillow
and `mminspect.types`. Load the shipped model with `mminspect.load("miniclip")`
(`models/miniclip_adapter.py` adds the MiniLM text tower); train and evaluate it with the
programs in `mminspect/lab` (`python -m mminspect.lab.miniclip_train`, `... .miniclip_eval`;
`... .miniclip2_train`, `... .miniclip2_eval` for mini-CLIP 2).
"""
