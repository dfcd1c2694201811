"""Shared fixtures: offline settings, tiny random models built locally, the bundled MiniLM."""
from __future__ import annotations

import os
import socket

os.environ.setdefault("HF_HUB_OFFLINE", "1")          # a missing model fails at once, no network wait
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

TINY_WORDS = ["the", "cat", "sat", "on", "mat", "dog", "a", "rug", "is", "warm", "##s", "##ing",
              "run", ".", ",", "!", "?", "hello", "world"]
# A vocab dict, not a vocab.txt: transformers 5's fast WordPiece tokenizers ignore vocab_file
# (every word would become [UNK]).
TINY_VOCAB = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_WORDS])}


def build_tiny_bert(folder, n_layers: int = 2, n_heads: int = 2, hidden: int = 16, seed: int = 0):
    """A random BertModel + WordPiece tokenizer saved to `folder` (what a hub checkpoint looks like)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    BertTokenizerFast(vocab=TINY_VOCAB, do_lower_case=True, model_max_length=64).save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(TINY_VOCAB), hidden_size=hidden, num_hidden_layers=n_layers,
                     num_attention_heads=n_heads, intermediate_size=2 * hidden,
                     max_position_embeddings=64)
    BertModel(cfg).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), n_layers=2, n_heads=2)


@pytest.fixture(scope="session")
def tiny_bert(tiny_bert_dir):
    from mminspect.models import load
    return load(str(tiny_bert_dir))


@pytest.fixture(scope="session")
def minilm():
    from mminspect.models import load
    return load("minilm")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url():
    """The whole app, launched once for the end-to-end and browser tests."""
    from mminspect.ui import build_app, launch_kwargs
    demo = build_app()
    port = free_port()
    demo.launch(**launch_kwargs(port), prevent_thread_lock=True, quiet=True)   # as app.py does
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def _save_wordpiece_tokenizer(folder, cls_name="BertTokenizerFast"):
    import transformers
    getattr(transformers, cls_name)(vocab=TINY_VOCAB, do_lower_case=True,
                                    model_max_length=64).save_pretrained(folder)
    return len(TINY_VOCAB)


TINY_CORPUS = ["the cat sat on the mat", "a dog is running on a warm rug", "hello world!",
               "the cats are sitting", "is the dog warm?"] * 20


def _save_bpe_tokenizer(folder):
    """A byte-level BPE (GPT-2 style) trained here on a few sentences."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TINY_CORPUS, vocab_size=300, min_frequency=1,
                            special_tokens=["<|endoftext|>"])
    tok = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                            bos_token="<|endoftext|>", unk_token="<|endoftext|>", model_max_length=64)
    tok.save_pretrained(folder)
    return len(tok)


def build_tiny_task_model(folder, head: str, seed: int = 0):
    """A tiny random checkpoint of one task kind, saved to `folder` like a hub download.

    head: "bert-cls" (3-class sequence classifier), "bert-mlm", "distilbert-mlm", "gpt2".
    """
    import torch
    import transformers as tf
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if head == "gpt2":
        vocab = _save_bpe_tokenizer(folder)
        eos = 0                                # "<|endoftext|>", the first token trained
        cfg = tf.GPT2Config(vocab_size=vocab, n_positions=64, n_embd=16, n_layer=2, n_head=2,
                            bos_token_id=eos, eos_token_id=eos)
        model = tf.GPT2LMHeadModel(cfg)
    elif head == "distilbert-mlm":
        vocab = _save_wordpiece_tokenizer(folder, "DistilBertTokenizerFast")
        cfg = tf.DistilBertConfig(vocab_size=vocab, dim=16, n_layers=2, n_heads=2, hidden_dim=32,
                                  max_position_embeddings=64)
        model = tf.DistilBertForMaskedLM(cfg)
    else:
        vocab = _save_wordpiece_tokenizer(folder)
        cfg = tf.BertConfig(vocab_size=vocab, hidden_size=16, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                            num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
                            # larger random weights: the default 0.02 leaves a classifier whose
                            # logits barely depend on the text, nothing for attributions to explain
                            initializer_range=0.3,
                            label2id={"negative": 0, "neutral": 1, "positive": 2})
        model = (tf.BertForSequenceClassification if head == "bert-cls" else tf.BertForMaskedLM)(cfg)
    model.eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_task_dirs(tmp_path_factory):
    """{head: folder} for every tiny task checkpoint."""
    return {h: build_tiny_task_model(tmp_path_factory.mktemp(h), h)
            for h in ("bert-cls", "bert-mlm", "distilbert-mlm", "gpt2")}


@pytest.fixture(scope="module")
def task_models(tiny_task_dirs):
    """{head: adapter} for every tiny task checkpoint, loaded by path like a user's folder."""
    from mminspect.models import load
    return {h: load(str(d)) for h, d in tiny_task_dirs.items()}


def direct_logits(adapter, text):
    """The model's own logits for a text, batch item 0, without mminspect in between."""
    import torch
    enc = adapter.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return adapter.model(**enc).logits[0]


# --- markers: `python -m pytest -m "not slow and not browser and not load and not training"` is
# the quick local run; plain `python -m pytest` (CI) runs everything. Given here by what a test
# uses, so a new test is marked without anyone remembering to.
BROWSER_WORDS = ("shared_browser(",)                   # walk_fixture's `walk` calls it too
# the training programs (even tiny runs): a test naming one and calling its train, main or loss
TRAINING = (("miniclip_train", "miniclip2_train"), (".train(", ".main(", ".step_loss("))
LOAD_FILES = {"test_load.py"}                          # the load and abuse suite (lab.load)
# Files whose tests cost about 12 s of CPU or more in all (measured on 2026-12-07 with a
# per-test CPU log, 2-core machine), run by CI, left out of the quick run.
SLOW_FILES = {
    "test_attribution_precision.py", "test_attribution_faithfulness.py", "test_attribution_methods.py",
    "test_bundled.py", "test_causal.py", "test_causal_clip.py", "test_causal_clip_text.py",
    "test_hosting.py", "test_hosting_sessions.py", "test_image_explainers.py", "test_lab_bench.py",
    "test_lanes_app.py", "test_lessons.py", "test_miniclip2_shipped.py", "test_miniclip_world.py",
    "test_optional_assets.py", "test_packaging.py", "test_readme_docs.py", "test_request_budget.py",
    "test_sanity.py", "test_sanity_table.py", "test_worker_memory.py",
}


def _sources(item):
    """The test function's source and that of every fixture it uses (the words that tell
    what it needs)."""
    import inspect
    funcs = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info else ()):
        funcs += [d.func for d in defs]
    out = []
    for f in funcs:
        try:
            out.append(inspect.getsource(f))
        except (TypeError, OSError):
            pass
    return out


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.path.name
        src = _sources(item)
        if any(w in s for s in src for w in BROWSER_WORDS):
            item.add_marker(pytest.mark.browser)
        if any(any(m in s for m in TRAINING[0]) and any(c in s for c in TRAINING[1]) for s in src):
            item.add_marker(pytest.mark.training)
        if name in LOAD_FILES:
            item.add_marker(pytest.mark.load)
        if name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
