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


def build_tiny_bert(folder, n_layers: int = 2, n_heads: int = 2, hidden: int = 16, seed: int = 0):
    """A random BertModel + WordPiece tokenizer saved to `folder` (what a hub checkpoint looks like)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True, model_max_length=64).save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=5 + len(TINY_WORDS), hidden_size=hidden, num_hidden_layers=n_layers,
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
    from mminspect.ui import build_app
    demo = build_app()
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, share=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()
