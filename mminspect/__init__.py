"""mminspect: see why a transformer predicts what it predicts.

    import mminspect as mi
    model = mi.load("minilm")
    view = mi.inspect_text(model, "The cat sat on the mat.")
    fig = mi.figures.attention_grid(view.attention)
"""
from . import explain, figures
from .api import (ClassTarget, MaskFillTarget, NextTokenTarget, SimilarityTarget, Target,
                  ZeroShotTarget, attribute_generation, attribute_image, attribute_text,
                  bertviz_html, compare_attributions, explain_prompts, inspect_clip, inspect_text,
                  list_attribution_methods, list_examples, list_image_methods, list_models, load,
                  load_example, logit_lens)
from .api import ablate_heads, head_importance, patch_activations
from .api import break_attention, check_attention, list_attention_variants, trace_embeddings, trace_head
from .api import load_result, save_result
from .api import dataset_sanity, explain_dataset, load_dataset_sample, summarize_dataset
from .api import summarize_image_dataset
from .api import compare, compare_texts, list_pairs, minimal_pair, randomized_copy
from .api import compare_images, object_removed_pair
from .api import caveats, method_agreement, sanity_check
from .api import (ablate_fusion_heads, fusion_ablation_accuracy, fusion_head_block,
                  fusion_head_importance, image_reading_heads, inspect_fusion)
from .api import cross_attention, inspect_vlm
from .api.fusion_caption import caption_pointing, caption_scene, caption_word_map, held_out_scene
from .report import install_notebook_views, report
from .types import Cancelled, InputError, ModelLoadError, OverBudget

__all__ = ["inspect_fusion", "ablate_fusion_heads", "fusion_ablation_accuracy", "fusion_head_importance", "image_reading_heads", "fusion_head_block", "caption_scene", "caption_word_map", "caption_pointing", "held_out_scene", "cross_attention", "inspect_vlm", "compare", "compare_images", "object_removed_pair", "compare_texts", "list_pairs", "minimal_pair", "randomized_copy", "explain_dataset", "summarize_dataset", "dataset_sanity", "load_dataset_sample", "summarize_image_dataset", "caveats", "method_agreement", "sanity_check", "report", "load_result", "save_result", "trace_head", "trace_embeddings", "break_attention", "check_attention", "list_attention_variants", "ablate_heads", "head_importance", "patch_activations", "Cancelled", "ClassTarget", "InputError", "OverBudget", "MaskFillTarget", "ModelLoadError", "NextTokenTarget",
           "SimilarityTarget", "Target", "ZeroShotTarget", "attribute_generation",
           "attribute_image", "attribute_text", "bertviz_html", "compare_attributions", "explain",
           "explain_prompts", "figures", "inspect_clip", "inspect_text", "list_attribution_methods",
           "list_examples", "list_image_methods", "list_models", "load", "load_example", "logit_lens"]
from .types.version import VERSION as __version__  # noqa: E402

install_notebook_views()   # results show as HTML in Jupyter (report/notebook.py)
