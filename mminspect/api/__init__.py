"""The facade that the UI, the CLI and notebooks call: plain Python in, result values out."""
from ..explain.attribution import (ClassTarget, MaskFillTarget, NextTokenTarget, SimilarityTarget,
                                   Target, ZeroShotTarget)
from ..explain import head_summary, rollout
from ..models import list_models, load
from ..models.hf_text import MAX_CHARS
from .attribution import (attribute_generation, attribute_text, compare_attributions,
                          list_attribution_methods)
from .availability import default_model_workers, exclusive, hub_reachable, unavailable_models
from .bertviz_views import bertviz_html
from .causal import ablate_heads, head_importance, patch_activations
from .dataset import explain_dataset
from .dataset_sanity import dataset_sanity
from .dataset_samples import load_dataset_sample
from .dataset_images import summarize_image_dataset
from .dataset_stats import DatasetSummary, summarize_dataset
from .domain import domain_note
from .images import read_image
from .examples import list_examples, load_example, pointing_results
from .clip import attribute_image, explain_prompts, inspect_clip, list_image_methods
from .lens import logit_lens
from .seq2seq import cross_attention
from .vlm import inspect_vlm
from .compare import compare
from .compare_pairs import compare_texts, list_pairs, minimal_pair, randomized_copy
from .compare_images import compare_images, object_removed_pair
from .limits import Limits, limits
from .text import inspect_text
from .results_io import load_result, save_result
from .trace import trace_embeddings, trace_head
from .caveats import caveats
from .trust import method_agreement, sanity_check
from .trust_shipped import shipped_sanity, shipped_verdict
from .glassbox import break_attention, check_attention, list_attention_variants
from .lessons import Lesson, Measured, get_lesson, list_lessons, run_lesson
from .fusion import inspect_fusion
from .fusion_causal import (ablate_fusion_heads, fusion_ablation_accuracy, fusion_head_importance,
                            image_reading_heads)
from .fusion_trace import fusion_head_block

__all__ = ["inspect_fusion", "ablate_fusion_heads", "fusion_ablation_accuracy", "fusion_head_importance", "image_reading_heads", "fusion_head_block", "cross_attention", "inspect_vlm", "compare", "compare_images", "object_removed_pair", "compare_texts", "list_pairs", "minimal_pair", "randomized_copy", "explain_dataset", "summarize_dataset", "dataset_sanity", "load_dataset_sample", "summarize_image_dataset", "DatasetSummary", "caveats", "method_agreement", "sanity_check", "shipped_sanity", "shipped_verdict", "Lesson", "Measured", "get_lesson", "list_lessons", "run_lesson", "load_result", "save_result", "trace_head", "trace_embeddings", "break_attention", "check_attention", "list_attention_variants", "ablate_heads", "head_importance", "patch_activations", "default_model_workers", "exclusive", "domain_note", "read_image", "head_summary", "hub_reachable", "rollout", "unavailable_models", "MAX_CHARS", "ClassTarget", "MaskFillTarget", "NextTokenTarget", "SimilarityTarget",
           "Target", "ZeroShotTarget", "attribute_generation", "attribute_image", "attribute_text",
           "bertviz_html", "compare_attributions", "explain_prompts", "inspect_clip",
           "inspect_text", "list_attribution_methods", "list_examples", "list_image_methods",
           "list_models", "load", "load_example", "pointing_results",
           "logit_lens", "Limits", "limits"]

# Each public function that takes a model holds its lock while it runs (holding.py says why).
# Not: exclusive itself, and the two that only read files about a model.
from .holding import hold_models  # noqa: E402

hold_models(globals(), __all__, skip={"exclusive", "pointing_results", "domain_note"})
