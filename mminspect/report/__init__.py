"""An offline HTML report of a result: one self-contained file (plotly.js inlined, images as
data URIs) that opens with no network. `mi.report(result, "report.html")`.

Layering: a program-level module on top of api (the model's fingerprint, head summaries) and
figures (every chart); nothing below imports it."""
from ..types import Comparison
from .compare_sections import comparison_sections
from .document import report, report_html
from .sections import SECTIONS

SECTIONS[Comparison] = comparison_sections      # the comparison's sections live in their own file
from .notebook import install as install_notebook_views, notebook_html

__all__ = ["install_notebook_views", "notebook_html", "report", "report_html"]
