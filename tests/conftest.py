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
