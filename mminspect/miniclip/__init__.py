"""mini-CLIP: the small CLIP-style model we train ourselves and ship in assets/miniclip.

scenes   synthetic shape scenes with exact per-object masks
captions caption templates (synonyms, relations) and zero-shot prompts
vit      the image tower (conv stem, 2-D sin-cos positions, attention in the autograd graph)
model    image tower + projection of the frozen MiniLM + temperature, and the InfoNCE loss

This package is the model and its data, nothing else: it imports only torch, numpy, Pillow
and `mminspect.types`. Load the shipped model with `mminspect.load("miniclip")`
(`models/miniclip_adapter.py` adds the MiniLM text tower); train and evaluate it with the
programs in `mminspect/lab` (`python -m mminspect.lab.miniclip_train`, `... .miniclip_eval`).
"""
