"""The Dataset tab's handlers without a browser: the downloads hold the table the run made
(Parquet with its lists, CSV with lists as JSON), and the data choices refuse in words."""
import html
import json
import math
import re
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import pytest

import mminspect as mi
from mminspect.types import InputError
from mminspect.ui import dataset_tab
from mminspect.ui.context import default_context


@pytest.fixture(scope="module")
def table(minilm):
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)               # 2 threads on 2 busy cores: several times slower
    try:
        return mi.explain_dataset(minilm, dataset_tab.SAMPLE.iloc[[0, 4, 8]], methods=["saliency"],
                                  budget_s=math.inf)
    finally:
        torch.set_num_threads(before)


def test_downloads_hold_the_table(table):
    ctx = default_context()
    parquet = dataset_tab.on_export_parquet(ctx, table)["export_file"]["value"]
    back = pd.read_parquet(parquet)
    assert back["text"].tolist() == table["text"].tolist()
    for a, b in zip(back["head_importance"], table["head_importance"]):
        np.testing.assert_array_equal(np.stack(a), np.stack(b))           # [layer, head]
    csv = pd.read_csv(dataset_tab.on_export_csv(ctx, table)["export_file"]["value"])
    np.testing.assert_allclose(json.loads(csv["saliency.scores"][1]), table["saliency.scores"][1])
    with pytest.raises(InputError, match="press Run first"):
        dataset_tab.on_export_csv(ctx, None)


def test_data_choice_and_rows_view(table):
    assert dataset_tab._data(dataset_tab.SAMPLE_NAME, None) is dataset_tab.SAMPLE
    assert dataset_tab._data(dataset_tab.UPLOAD_NAME, b"text\nhi\n") == b"text\nhi\n"
    with pytest.raises(InputError, match="No file yet"):
        dataset_tab._data(dataset_tab.UPLOAD_NAME, None)
    update = dataset_tab._rows_view(table, ["saliency"])
    view = update["value"]
    assert list(view.columns) == ["row", "open", "text", "label", "prediction", "correct",
                                  "score", "saliency.deletion_area", "notes"]
    assert view["prediction"].tolist() == table["prediction"].tolist()
    assert update["datatype"][:3] == ["number", "html", "str"]


def test_each_row_links_to_its_text_and_attribution_views(table):
    """The links carry what reopens the row's own view: model, text, the labels in the
    table's order, the predicted label and the first method, and open a new browser tab."""
    view = dataset_tab._rows_view(table, ["saliency"])["value"]
    for (_, row), cell in zip(table.iterrows(), view["open"]):
        assert cell.count('target="_blank"') == 2
        text_q, attr_q = (parse_qs(html.unescape(h)) for h in re.findall(r'href="\?([^"]+)"', cell))
        assert text_q == {"tab": ["text"], "model": ["minilm"], "text": [row["text"]],
                          "labels": ["animals, food, sports"]}
        assert attr_q == {**text_q, "tab": ["attributions"], "method": ["saliency"],
                          "target": ["zero_shot"], "label": [row["prediction"]]}
    skipped = table.iloc[:1].assign(ok=False)
    assert dataset_tab._rows_view(skipped, ["saliency"])["value"]["open"].tolist() == [""]


def test_rows_filter_by_text_and_outcome():
    t = pd.DataFrame({"text": ["A Cat sat.", "A dog ran.", None, "Catalogue."],
                      "ok": [True, True, False, True], "correct": [True, False, None, None]})
    assert dataset_tab.filtered(t, "cat", "all rows")["text"].tolist() == ["A Cat sat.", "Catalogue."]
    assert dataset_tab.filtered(t, "", "correct")["text"].tolist() == ["A Cat sat."]
    assert dataset_tab.filtered(t, " ", "incorrect")["text"].tolist() == ["A dog ran."]
    assert dataset_tab.filtered(t, "", "skipped")["ok"].tolist() == [False]
    assert dataset_tab.filtered(t, "(", "all rows").empty             # plain text, not a regex


def test_the_report_holds_the_aggregates_and_opens_offline(table):
    """Save report: one HTML file with the same aggregates summarize_dataset gives, the
    figures (plotly inlined, nothing fetched) and the call that makes it again."""
    from pathlib import Path
    path = Path(dataset_tab.on_export_report(default_context(), table)["export_file"]["value"])
    page = path.read_text(encoding="utf-8")
    s = mi.summarize_dataset(table)
    for heading in ("Accuracy per slice", "Faithfulness per method", "Head importance over the set",
                    "Method agreement", "Reproduce it"):
        assert f"<h2>{heading}</h2>" in page
    acc = s.accuracy[s.accuracy["slice"] == "all"]["accuracy"].iloc[0]
    assert f"<td>{round(float(acc), 4)}</td>" in page or f"<td>{acc:g}</td>" in page
    mean = s.faithfulness["mean"].iloc[0]
    assert f"{round(float(mean), 4)}" in page
    assert page.count('class="plotly-graph-div"') == 2              # bars and heatmap
    assert "<script type=\"text/javascript\">/**" in page          # plotly.js inlined
    body = page[page.index("</head>"):]                              # past plotly.js itself
    assert 'src="http' not in body and "cdn.plot.ly" not in body
    assert ("mi.explain_dataset('minilm', data, target='zero_shot', methods=['saliency']"
            in html.unescape(body))
    with pytest.raises(InputError, match="press Run first"):
        dataset_tab.on_export_report(default_context(), None)


def test_stop_stops_this_pages_run_only_and_not_the_next_one():
    """Stop is a flag the run reads between batches (gradio's own cancel left an Error pill
    on every output): it stops the runs of its page that started before it, nothing else."""
    from types import SimpleNamespace

    from mminspect.ui import dataset_tab
    running = dataset_tab.stop_check("page-a")
    other = dataset_tab.stop_check("page-b")
    assert not running() and not other()
    dataset_tab.on_stop(SimpleNamespace(session_hash="page-a"))
    assert running() and not other()
    assert not dataset_tab.stop_check("page-a")()        # a run started after Stop runs on
