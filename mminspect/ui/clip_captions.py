"""The Image–text tab's words and page styles: the short caption under each view, the longer
explanations folded under its "Details", and the galleries' sizing. clip_tab.py lays them out."""
from __future__ import annotations

CAPTIONS = {
    "steps": "**The prediction, step by step.** (1) the cosine between the image's embedding and "
             "each prompt's; (2) times the model's learned logit scale (1 / temperature) gives "
             "the logits; (3) the softmax over *these prompts* gives the probabilities. Small "
             "cosine gaps become large probability gaps: that is the temperature at work. The "
             "probabilities depend on which prompts you list.",
    "steps_details": "SigLIP models instead add a "
             "learned bias to the logit and take a sigmoid of each logit on its own: "
             "independent yes/no probabilities that need not sum to 1 (another prompt in the "
             "list changes none of them).",
    "relevance": "**Why this label** — gradient-weighted attention relevance (Chefer et al. "
                 "2021), one map per prompt, the best match (★) first: bright patches carried "
                 "the prompt's logit. Below: the prompt's words shaded by the same relevance in "
                 "the text tower.",
    "similarity": "**Patch–text similarity**: each patch's own projected feature against the "
                  "prompt (red = closer than average, blue = farther), with no gradients — a "
                  "zero-shot localisation. Most CLIPs, mini-CLIP among them, compare only the "
                  "image's [CLS] with text in training, so this map is noisier than relevance "
                  "there; mini-CLIP 2 was also trained patch by patch (each object's patches "
                  "against its name), so on it this map finds the object.",
    "contrast": "**Why A rather than B**: A's relevance minus B's (red = evidence for A, blue = for B).",
    "methods": "**Every method on one prompt**, each map on its own scale. The table says how "
               "faithful each map is (areas > 0: better than a random order) and, on an "
               "example scene, whether it points at the named object.",
    "methods_details": "*Deletion / insertion*: "
               "remove (or add back) patches in the map's order and watch the prompt's logit; "
               "the area between that curve and a random order (> 0 = better than chance). "
               "*Pointing*: on a mini-CLIP or mini-CLIP 2 example scene, whether the map's peak falls on the named object; "
               "*energy in mask*: the share of the map's positive mass on it. Relevance "
               "propagates through all layers; 'last layer' uses the last one only (the Chefer "
               "notebook's default). Grad-ECLIP and the relevance pair also shade the prompt's "
               "words (under the table).",
    "attention": "**Attention over patches**: where one query token of the image tower looks. "
                 "Pick [CLS] or a patch in the list, or click the image to use the patch under "
                 "the pointer (outlined in green).",
    "text": "**The prompt's attention** in the text tower, all layers × heads (as in the Text tab).",
    "pca": "**Embedding space**: the image and prompt embeddings projected on their first two "
           "principal components. Images and texts form two separate clouds — the 'modality "
           "gap' — so only the *relative* closeness to each prompt matters.",
}


# Galleries grow with their rows. gradio 6 treats height="auto" (and None) as a fixed box of
# 55 % of the window that scrolls: the second row of maps (IG, Occlusion, GradientSHAP) was cut
# off. A CSS height other than "auto" is set on the grid as is.
GALLERY_HEIGHT = "fit-content"
# A gallery's columns are fixed in pixels' worth (gradio: at least 100 px each), so 4 or 6
# maps in a row ran off a phone's screen: two per row there (a stylesheet rule beats the
# gallery's inline column count only with !important). Captions wrap instead of being cut
# ("Relevance, last layer (Chefer ..."); the white band under each map leaves them room.
GALLERY_CSS = ("<style>.mm-gallery .caption-label { white-space: normal !important; "
               "max-width: 96% !important; } @media (max-width: 640px) { .mm-gallery "
               ".grid-container { --grid-cols: 2 !important; } .mm-gallery .caption-label "
               "{ font-size: 11px !important; } }</style>")
