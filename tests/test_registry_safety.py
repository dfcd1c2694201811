"""What the model loader tells a visitor: with custom models off, nothing about the server's
folders; pickle weights refused as such; the library's own messages (paths, loader advice)
never passed on."""
from __future__ import annotations

import pytest

from mminspect.models import registry
from mminspect.types import ModelLoadError


def refusal(name: str, **kw) -> str:
    with pytest.raises(ModelLoadError) as e:
        registry.load(name, **kw)
    return str(e.value)


def test_with_custom_models_off_every_unknown_name_gets_the_same_answer(tmp_path, tiny_bert_dir):
    (tmp_path / "empty").mkdir()
    names = ["/root", str(tmp_path / "empty"), str(tmp_path / "missing"), str(tiny_bert_dir),
             "someone/some-model", "open_clip:ViT-B-16/openai", "no such model!"]
    answers = {refusal(n, allow_custom=False).replace(repr(n), "NAME") for n in names}
    assert len(answers) == 1, answers
    assert answers.pop().startswith("Unknown model NAME; choose one of: minilm")


def test_with_custom_models_off_a_registry_model_still_loads(minilm):
    assert registry.load("minilm", allow_custom=False) is minilm


def test_a_custom_model_cached_earlier_is_not_served_once_custom_models_are_off(tiny_bert):
    name = tiny_bert.name
    assert registry.load(name) is tiny_bert                     # allowed: from the cache
    assert refusal(name, allow_custom=False).startswith("Unknown model")


def save_tiny_bert(folder, safe: bool):
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from conftest import TINY_VOCAB
    folder.mkdir(parents=True, exist_ok=True)
    BertTokenizerFast(vocab=TINY_VOCAB, model_max_length=64).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(TINY_VOCAB), hidden_size=8, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=16, max_position_embeddings=64)
    model = BertModel(cfg)
    if safe:
        model.save_pretrained(folder)
    else:   # what an older checkpoint looks like (transformers 5 writes only safetensors)
        cfg.save_pretrained(folder)
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def test_a_pickle_only_checkpoint_is_refused_as_such(tmp_path):
    folder = save_tiny_bert(tmp_path / "pickled", safe=False)
    assert (folder / "pytorch_model.bin").is_file()
    msg = refusal(str(folder))
    assert "holds only pickle weights (pytorch_model.bin)" in msg
    assert "safetensors" in msg and "weights_only" not in msg
    assert "local cache" not in msg                             # the old, wrong reason


def test_a_torch_file_for_open_clip_is_refused_as_pickle(tmp_path):
    path = tmp_path / "clip.pt"
    path.write_bytes(b"not read at all")
    msg = refusal(f"open_clip:ViT-B-32/{path}")
    assert "holds only pickle weights (" in msg and "weights_only" not in msg


def test_a_folder_with_a_config_but_no_weights_says_so(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    assert "holds a config.json but no weights" in refusal(str(tmp_path))


def test_the_librarys_own_message_is_not_passed_on(tmp_path):
    folder = save_tiny_bert(tmp_path / "broken", safe=True)
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)    # corrupt weights
    msg = refusal(str(folder))
    assert msg.startswith(f"Could not load {str(folder)!r}: the files in that folder are not a "
                          "checkpoint this app can open (")
    assert "Traceback" not in msg and msg.count(str(tmp_path)) == 1   # only the name given
