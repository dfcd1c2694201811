"""The fusion models: image and text inside ONE transformer, trained on mini-CLIP 2's world
(its scene generator, its exact masks), so every word-to-patch attention has a ground truth.

words       the word vocabulary, the tokenizer (one token per word; multi-word names such as
            "light bulb" are one token), canonical world captions, masking and wrong captions
data        world scene streams by (seed, stream, index) and captions padded into a batch
model       the concatenation (single-stream, ViLT-style) model: [CLS] + words + patches in
            one sequence with modality and position embeddings, an image-text matching head
            and a masked-word head

Like `miniclip`, this package is the model and its data only: it imports torch, numpy and
`mminspect.miniclip` (the world). Load the shipped model with `mminspect.load("fusion")`;
train it with `python -m mminspect.lab.fusion_train --out assets/fusion`.
"""
