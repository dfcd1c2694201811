"""mini-CLIP: the small CLIP-style model we train ourselves and ship in assets/miniclip.

scenes   synthetic shape scenes with exact per-object masks
captions caption templates (synonyms, relations) and zero-shot prompts
vit      the image tower (conv stem, 2-D sin-cos positions, attention in the autograd graph)
model    image tower + projection of the frozen MiniLM + temperature, and the InfoNCE loss
train    python -m mminspect.miniclip.train   (writes weights + model card)
eval     python -m mminspect.miniclip.eval    (held-out zero-shot, retrieval, swapped bindings)

Load the shipped model with `mminspect.load("miniclip")`; this package holds no UI code.
"""
