"""One model shared by several threads through the public API: each call holds the model's
lock (api/holding.py), so no thread's forward pass runs through another's hooks. Without it
two threads tracing one MiniLM raised a size mismatch and attributions came back wrong."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import mminspect as mi

TEXTS = ("The cat sat on the mat because it was warm.",
         "A much longer sentence about the sea, the boats and the fishermen at dawn.",
         "Short one.", "Another text with several words in it.")


def test_threads_sharing_one_model_get_the_answers_of_a_single_thread(minilm):
    alone = {t: (mi.trace_embeddings(minilm, t).after_norm,
                 mi.attribute_text(minilm, t, method="saliency", compare_to="A kitten.",
                                   faithfulness=False).scores) for t in TEXTS}
    seen, errors = [], []

    def work(i):
        for k in range(4):
            t = TEXTS[(i + k) % len(TEXTS)]
            try:
                seen.append((t, mi.trace_embeddings(minilm, t).after_norm,
                             mi.attribute_text(minilm, t, method="saliency",
                                               compare_to="A kitten.", faithfulness=False).scores))
            except Exception as e:  # noqa: BLE001 - what the threads met is the finding
                errors.append(repr(e))
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(seen) == 16
    for t, norms, scores in seen:
        np.testing.assert_allclose(norms, alone[t][0], atol=1e-5)
        np.testing.assert_allclose(scores, alone[t][1], atol=1e-5)


def test_the_lock_is_taken_on_the_loaded_model_and_a_name_is_not_loaded_early(minilm,
                                                                               monkeypatch):
    from mminspect.api import availability, holding
    taken = []
    real = availability.exclusive
    monkeypatch.setattr(holding, "exclusive", lambda m: taken.append(m) or real(m))
    mi.inspect_text(minilm, "The cat sat.")
    assert taken == [minilm]
    with pytest.raises(mi.InputError):                  # refused before any load
        mi.attribute_generation("no-such-model-anywhere", "Hello", n_tokens=10 ** 6)
    mi.api.pointing_results("miniclip", wait=False)
    assert taken == [minilm]
