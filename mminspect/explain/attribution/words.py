"""Sub-word pieces -> words of the original text, through the tokenizer's character offsets.

A word is a run of letters/digits (apostrophes inside kept: "don't") or a run of
punctuation, as found in the text itself (Chinese: a character, or the tokenizer's piece), so word spans always slice the text exactly and
the same rule works for every tokenizer (WordPiece "##", BPE "Ġ", SentencePiece "▁"). A
token belongs to the word holding its first non-space character (BPE offsets may include
the leading space). A word's score is the sum of its tokens' scores, so the word view adds
up to the same total as the token view.
"""
from __future__ import annotations

import re

import numpy as np

# Chinese / Japanese ideographs are written without spaces, so a run of them is no word: it
# is cut where the tokenizer's pieces start (one character each for BERT-Chinese, 北京 as one
# piece for SentencePiece), the finest unit the model itself read.
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
LETTERS = rf"(?:(?![{CJK}])\w)+"
WORD = re.compile(rf"[{CJK}]+|{LETTERS}(?:['’]{LETTERS})*|[^\w\s]+")
IDEOGRAPHS = re.compile(rf"[{CJK}]")


def _spans(text: str, offsets: np.ndarray, special: np.ndarray) -> np.ndarray:
    """Word spans [word, 2]: WORD's matches, each run of ideographs cut at token starts."""
    starts = sorted({int(a) for (a, b), sp in zip(np.asarray(offsets), special) if not sp and b > a})
    out = []
    for m in WORD.finditer(text):
        a, b = m.span()
        if not IDEOGRAPHS.match(text, a):
            out.append((a, b))
            continue
        cuts = [a] + [c for c in starts if a < c < b] + [b]
        out += list(zip(cuts[:-1], cuts[1:]))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def align_words(text: str, offsets: np.ndarray, special: np.ndarray
                ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(words, word_offsets int [word, 2], token_word int [token]; -1 = special/empty span).

    Only words that hold at least one token are kept (a truncated text loses its tail)."""
    spans = _spans(text, offsets, special)                            # [word, 2]
    token_word = np.full(len(offsets), -1, dtype=np.int64)            # [token]
    for i, (a, b) in enumerate(np.asarray(offsets)):
        if special[i] or b <= a:
            continue
        piece = text[a:b]
        start = a + (len(piece) - len(piece.lstrip()))                # first non-space character
        if start >= b:
            continue                                                  # a whitespace-only token
        w = int(np.searchsorted(spans[:, 0], start, side="right")) - 1
        if w >= 0 and spans[w, 0] <= start < spans[w, 1]:
            token_word[i] = w
    used = np.unique(token_word[token_word >= 0])                     # [word kept]
    renumber = np.full(len(spans), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    token_word = np.where(token_word >= 0, renumber[np.maximum(token_word, 0)], -1)
    word_offsets = spans[used]                                        # [word, 2]
    return [text[a:b] for a, b in word_offsets], word_offsets, token_word


def word_scores(scores: np.ndarray, token_word: np.ndarray, n_words: int) -> np.ndarray:
    """Sum token scores [token] into their words -> float32 [word]."""
    keep = token_word >= 0
    return np.bincount(token_word[keep], weights=np.asarray(scores, np.float64)[keep],
                       minlength=n_words).astype(np.float32)
