"""bertviz stays an extra: bounded in size, embedded escaped, refused past its token limit."""
import mminspect as mi
from mminspect.api.bertviz_views import max_bertviz_tokens
from mminspect.figures import iframe_srcdoc


def text_of(model, n_tokens):
    text = " ".join(["cat"] * (n_tokens - 2))
    assert len(model.tokenizer(text)["input_ids"]) == n_tokens
    return text


def test_bertviz_at_its_token_limit_stays_under_2_mb(minilm):
    limit = max_bertviz_tokens(6, 12)
    view = mi.inspect_text(minilm, text_of(minilm, limit))
    for which in ("head", "model"):
        html = iframe_srcdoc(mi.bertviz_html(view, which))
        assert "require.min.js" in html and len(html) < 2_000_000


def test_bertviz_past_its_limit_explains_instead_of_sending_megabytes(minilm):
    limit = max_bertviz_tokens(6, 12)
    html = mi.bertviz_html(mi.inspect_text(minilm, text_of(minilm, limit + 1)))
    assert f"limited to {limit} tokens" in html and len(html) < 1000


def test_iframe_escapes_quotes_so_the_document_cannot_break_out():
    html = iframe_srcdoc('<p title="x">"quoted"</p><script>alert(1)</script>')
    assert html.count('"') == 6                      # only the iframe's own three attributes
    assert "&quot;quoted&quot;" in html and "<script>" not in html
