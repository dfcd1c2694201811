"""The facade that the UI, the CLI and notebooks call: plain Python in, result values out."""
from ..models import list_models, load
from ..models.hf_text import MAX_CHARS
from .bertviz_views import bertviz_html
from .lens import logit_lens
from .text import inspect_text

__all__ = ["MAX_CHARS", "bertviz_html", "inspect_text", "list_models", "load", "logit_lens"]
