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
from PIL import Image

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


# ---- image sets ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scenes_table(tmp_path_factory):
    """Four bundled mini-CLIP 2 scenes run as the tab runs a set (its own run function)."""
    import torch
    from mminspect.ui import dataset_images
    folder = mi.load_dataset_sample("scenes")
    rows = pd.read_csv(folder / "images.csv", dtype=str, keep_default_na=False).head(4)
    small = tmp_path_factory.mktemp("scenes")
    for f in list(rows["file"]) + list(rows["mask"]):
        (small / f).write_bytes((folder / f).read_bytes())
    rows.to_csv(small / "images.csv", index=False)
    source = next(k for k, v in dataset_images.IMAGE_SOURCES.items() if v == "scenes")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    original = dataset_images.image_data
    dataset_images.image_data = lambda s, u: small          # the tab's path, four scenes
    try:
        out = dataset_images.run_image_set(mi.load("miniclip2"), source, None, ["relevance"],
                                           True, None, None)
    finally:
        dataset_images.image_data = original
        torch.set_num_threads(before)
    return out


def test_picking_a_scene_set_picks_its_model_and_the_image_maps():
    from mminspect.ui import dataset_images
    ctx = default_context()
    for source, model in zip(dataset_images.IMAGE_SOURCES, ("miniclip2", "miniclip")):
        out = dataset_tab.on_source(ctx, source, "minilm")
        assert out["model"] == model
        assert out["image_methods"]["visible"] and not out["methods"]["visible"]
        assert not out["upload"]["visible"]
    out = dataset_tab.on_source(ctx, dataset_images.ZIP_NAME, "miniclip")
    assert out["upload"]["visible"] and "model" not in out        # an image model stays
    assert dataset_tab.on_source(ctx, dataset_tab.SAMPLE_NAME, "miniclip2")["model"] == "minilm"
    with pytest.raises(InputError, match="No zip yet"):
        dataset_images.image_data(dataset_images.ZIP_NAME, None)


def test_a_scene_rows_link_opens_its_scene_in_the_image_text_tab(scenes_table):
    from mminspect.ui import clip_tab
    table = scenes_table["state"]
    view = scenes_table["rows"]["value"]
    assert "relevance.pointing_hit" in view and "relevance.deletion_area" in view
    assert "points at the named object" in scenes_table["summary"]
    for (_, row), cell in zip(table.iterrows(), view["open"]):
        q = parse_qs(html.unescape(re.search(r'href="\?([^"]+)"', cell).group(1)))
        assert q == {"tab": ["image-text"], "model": ["miniclip2"],
                     "set_scene": [f"scenes:{row['row']}"], "view": ["methods"]}
        opened = clip_tab.open_links(default_context(), {"set_scene": q["set_scene"][0]})
        shown = Image.open(mi.load_dataset_sample("scenes") / row["file"]).convert("RGB")
        assert np.array_equal(np.asarray(opened["image"]), np.asarray(shown))
        labels = opened["prompts"].split("\n")
        assert row["prompt"] in labels and opened["model"] == "miniclip2"
        mask = mi.api.load_example(opened["example"]).masks[row["prompt"]]
        # the tab's "Every method" measures on this mask: the table's numbers come back
        one = mi.attribute_image("miniclip2", opened["image"], row["prompt"], "relevance",
                                 mask=mask)
        assert float(one.pointing_hit) == row["relevance.pointing_hit"]
        assert one.energy_in_mask == pytest.approx(row["relevance.energy_in_mask"], abs=1e-7)
    from mminspect.ui.compare_clip import REFUSED
    bad = clip_tab.open_links(default_context(), {"set_scene": "scenes:99"})
    assert bad["set_scene"] == "" and "rows 0 to 39" in bad[REFUSED][0]


def test_an_image_sets_report_and_filter(scenes_table, tmp_path):
    from pathlib import Path
    table = scenes_table["state"]
    page = Path(dataset_tab.on_export_report(default_context(), table)["export_file"]
                ["value"]).read_text(encoding="utf-8")
    assert "<h2>Pointing and faithfulness per method</h2>" in page
    assert "<h2>Head importance over the set</h2>" in page
    word = table["prompt"][1].split()[-1]
    shown = dataset_tab.on_filter(default_context(), table, word, "all rows")["rows"]["value"]
    assert set(shown["prompt"]) == {p for p in table["prompt"] if word.lower() in p.lower()}
