"""`mminspect dataset`: explain every row of a CSV / JSONL / Parquet file and write the
table and its aggregates to a folder.

    mminspect dataset reviews.csv --model minilm --methods integrated_gradients saliency \
        --out results/            # [--backend ray] [--target zero_shot --labels a b]

results/ then holds table.parquet (one row per input row, lists kept), table.csv (lists
as JSON), accuracy.csv, faithfulness.csv, agreement.csv, heads_mean.csv, heads_std.csv and
summary.json (see docs/dataset.md)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import api
from ..api.dataset import BACKENDS, DEFAULT_METHODS
from ..api.dataset_batch import TARGETS
from ..api.dataset_io import to_csv
from .loading import load_model
from .progress import Bar


def add_dataset_parser(sub) -> None:
    d = sub.add_parser("dataset", help="explain every row of a CSV, JSONL or Parquet file")
    d.add_argument("data", type=Path, help="a .csv, .jsonl, .json or .parquet file, or a "
                   "datasets save_to_disk folder, with a 'text' column (optional: 'text2', "
                   "'label', 'slice'); with an image-text model, a folder of images "
                   "with images.csv (file, prompt, label, mask)")
    d.add_argument("--model", default="minilm", help="registry name, hub id or folder "
                   "(default minilm)")
    d.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), metavar="METHOD",
                   choices=[m["name"] for m in api.list_attribution_methods()]
                   + [m["name"] for m in api.list_image_methods()],
                   help="attribution methods (default: %(default)s)")
    d.add_argument("--target", choices=TARGETS, help="default: what the model and the "
                   "columns suggest (zero_shot with a label column, similarity with text2)")
    d.add_argument("--labels", nargs="+", metavar="LABEL", help="zero-shot labels (default: "
                   "the distinct values of the label column)")
    d.add_argument("--no-heads", action="store_true", help="skip the head-importance scan")
    d.add_argument("--backend", choices=BACKENDS, default="local",
                   help="local (this process) or ray (Ray Data actors; pip install 'ray[data]')")
    d.add_argument("--batch-size", type=int, default=16, help="rows per batch (default 16)")
    d.add_argument("--budget", type=float, default=math.inf, metavar="SECONDS",
                   help="time budget for the whole set (default: none)")
    d.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (on a busy "
                   "machine 1 can be several times faster than 2)")
    d.add_argument("--out", type=Path, required=True, metavar="FOLDER",
                   help="folder for the table and the aggregates")
    d.add_argument("--quiet", action="store_true", help="print nothing but errors")
    d.add_argument("--verbose", action="store_true", help="also show library logs and tracebacks")


def _say_summary(s, say) -> None:
    say(f"{s.n_rows} rows: {s.n_ok} explained, {s.n_rows - s.n_ok} skipped (see notes)")
    acc = s.accuracy
    for _, r in acc[acc["slice"].isin(["all", "label"])].iterrows():
        say(f"accuracy {r['value']}: {r['accuracy']:.1%} ({r['correct']}/{r['n']})")
    f = s.faithfulness
    for _, r in f[f["metric"] == "deletion_area"].iterrows():
        say(f"{r['method']}: deletion area {r['mean']:.3g} [{r['low']:.3g}, {r['high']:.3g}] "
            f"(95% bootstrap interval, n={r['n']})")
    if s.heads_mean is not None:
        top = np.argsort(-np.abs(s.heads_mean), axis=None)[:5]
        cells = [np.unravel_index(i, s.heads_mean.shape) for i in top]
        say("heads that matter most (mean change when removed): " + ", ".join(
            f"L{la}H{h} {s.heads_mean[la, h]:+.3f}" for la, h in cells))


def cmd_dataset(a, say) -> None:
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    model = load_model(a.model)              # refuses an uncached hub id at once
    with Bar(enabled=not a.quiet) as bar:
        table = api.explain_dataset(model, a.data, target=a.target, methods=a.methods,
                                    labels=a.labels, heads=not a.no_heads, backend=a.backend,
                                    batch_size=a.batch_size, budget_s=a.budget,
                                    out=a.out, progress=bar.update)
    if table.attrs["spec"].get("kind") == "images":      # a folder of images: pointing.csv
        for _, r in api.summarize_image_dataset(table).iterrows():
            say(f"{r['method'] or 'prediction'} {r['metric']}: {r['mean']:.3g} "
                f"[{r['low']:.3g}, {r['high']:.3g}] (n={r['n']}, chance {r['chance']:.3g})")
        return
    to_csv(table, a.out / "table.csv")
    _say_summary(api.summarize_dataset(table), say)
    say(f"written: {a.out}/ (table.parquet, table.csv, accuracy.csv, faithfulness.csv, "
        "agreement.csv, heads_mean.csv, heads_std.csv, summary.json)")
