"""Whether a text model can read the script of a text: one note when it cannot.

The bundled MiniLM learned English. Its WordPiece vocabulary (30,522 pieces, that of
bert-base-uncased) holds 244 Chinese characters (each alone and as a "##" piece), so most
characters of a Chinese sentence become the unknown token [UNK] and the rest are characters
that appeared now and then in its English training text. Its attention and attributions on
such a text are real computations, but they say nothing about Chinese. The note says so
once and names models that read it.
"""
from __future__ import annotations

import re

from ..models.assets import asset_dir

# The translations of the app's own words, one JSON file per language (read by the UI).
I18N_DIR = asset_dir("i18n")

# Registry names of models that read Chinese (mminspect/models/registry.py). They download
# on first use, so they open only where the server reaches the Hugging Face hub.
READS_CHINESE = ("bert-base-chinese", "multilingual-minilm")

# A vocabulary reads Chinese when it holds many different Chinese characters, or when they
# are a large share of its pieces (a small vocabulary built for Chinese). Measured: MiniLM /
# bert-base-uncased hold 244 different characters, 488 of 30,522 pieces (1.6 %) with the
# "##" forms; a Chinese or multilingual vocabulary holds thousands.
MIN_CHINESE_CHARS = 1000
MIN_CHINESE_SHARE = 0.05

# The Han (Chinese) characters: the unified ideographs, extension A, the compatibility
# ideographs, and the supplementary planes' extensions B to H. A regular expression, because
# a multilingual vocabulary has 250,000 pieces to scan (a loop over code points took 2 s).
HAN = re.compile("[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\U00020000-\U000323af]")


def is_han(ch: str) -> bool:
    """True for a single Han (Chinese) character."""
    return HAN.fullmatch(ch) is not None


def chinese_coverage(vocab) -> tuple[int, float]:
    """(different Han characters in a vocabulary's pieces, share of its pieces holding one)."""
    pieces = list(vocab)
    chars = HAN.findall("".join(pieces))
    n_han = sum(1 for p in pieces if HAN.search(p))
    return len(set(chars)), n_han / max(1, len(pieces))


def reads_chinese(vocab) -> bool:
    chars, share = chinese_coverage(vocab)
    return chars >= MIN_CHINESE_CHARS or share >= MIN_CHINESE_SHARE


def _unknown_han(text: str, enc, unk: str | None) -> list[str]:
    """The Han characters of `text` that the tokenizer turned into its unknown token, in
    order, once each. enc.tokens show an unknown piece as "[UNK] <its text>"."""
    if not unk:
        return []
    found: list[str] = []
    for tok, (a, b), special in zip(enc.tokens, enc.offsets, enc.special):
        if special or tok.split(" ")[0] != unk:
            continue
        for ch in text[int(a):int(b)]:
            if is_han(ch) and ch not in found:
                found.append(ch)
    return found


def _quoted(chars: list[str], most: int = 8) -> str:
    shown = " ".join(chars[:most])
    return shown + (f" … (+{len(chars) - most})" if len(chars) > most else "")


def script_notes(adapter, text: str, enc) -> list[str]:
    """[] when `text` holds no Chinese character or the model reads Chinese; else one line:
    the model cannot read Chinese, what its vocabulary did with the characters, and which
    model to open instead. enc: `adapter.encode(text)` (tokens, offsets, special)."""
    han = [c for c in dict.fromkeys(text) if is_han(c)]
    if not han:
        return []
    try:
        vocab = adapter.vocab()
        unk = adapter.special_token("unk")
    except (AttributeError, NotImplementedError):
        return []                              # an adapter without a tokenizer we can read
    unknown = _unknown_han(text, enc, unk)
    if not reads_chinese(vocab):
        chars, _ = chinese_coverage(vocab)
        lost = (f", so {len(unknown)} of the {len(han)} different characters here became the "
                f"unknown token {unk}, all read alike ({_quoted(unknown)})" if unknown else "")
        return [f"{adapter.name} cannot read Chinese: it learned English, and its vocabulary "
                f"holds only {chars} Chinese characters{lost}. Its attention and attributions "
                "here say nothing about Chinese. Open a model that reads Chinese: "
                f"'{READS_CHINESE[0]}' (fill-mask) or '{READS_CHINESE[1]}' (sentence "
                "encoder), in the model list; they download on first use (the server must "
                "reach the Hugging Face hub)."]
    if unknown:
        return [f"{len(unknown)} Chinese character(s) are not in {adapter.name}'s vocabulary "
                f"and became the unknown token {unk}, all read alike: {_quoted(unknown)}."]
    return []


# ---- lessons in other languages -------------------------------------------------------------
# A lesson file may carry its texts in another language as a table named by the locale:
#
#     [zh-CN]
#     title = "…"          summary = """…"""      why = "…"      next = "…"
#     question = "…"
#     choices = ["…", …]   # only for a lesson with fixed choices: same order as [question]
#
# The measured answer (the run's sentence with its numbers) is translated by the UI's
# templates; the state (model, text, layer, head) is the same in every language, so the
# measured answers are the same.
LESSON_FIELDS = ("title", "summary", "why", "next")


def lesson_translation(lesson, locale: str) -> dict[str, str]:
    """{English text: its translation} for one lesson (api.lessons.Lesson) in `locale`; {}
    when its file has no such table. Raises ValueError naming the file and field when the
    table is wrong (a missing field, choices of another length)."""
    import tomllib
    data = tomllib.loads(lesson.path.read_text(encoding="utf-8")).get(locale)
    if data is None:
        return {}
    where = f"{lesson.path.name} [{locale}]"
    out: dict[str, str] = {}
    for name in LESSON_FIELDS + ("question",):
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: the field '{name}' is missing or empty.")
        english = lesson.question if name == "question" else getattr(lesson, name)
        out[english] = value
        out[english.strip()] = value.strip()
    if isinstance(lesson.choices, tuple):
        choices = data.get("choices")
        if not isinstance(choices, list) or len(choices) != len(lesson.choices):
            raise ValueError(f"{where}: 'choices' must list {len(lesson.choices)} texts, in "
                             "the order of [question] choices.")
        out.update(zip(lesson.choices, choices))
    return out


# ---- CLIP-style prompts ---------------------------------------------------------------------
READS_CHINESE_CLIP = "chinese-clip-vit-base-patch16"


def _text_vocab(adapter):
    """The vocabulary of a model's text side: its own, or its text tower's (mini-CLIP reads
    prompts with the bundled MiniLM); None when there is no tokenizer to read."""
    for owner in (adapter, getattr(adapter, "text", None)):
        try:
            return owner.vocab() if owner is not None else None
        except (AttributeError, NotImplementedError):
            continue
    return None


def prompt_script_note(adapter, prompts) -> str | None:
    """One line when some prompts hold Chinese characters and the text tower cannot read
    Chinese (mini-CLIP: an English MiniLM); it names the model that reads them. None else
    (no Chinese, a tower that reads it, or a byte-level tokenizer with no vocabulary of
    characters to judge)."""
    chinese = [p for p in prompts if HAN.search(p)]
    vocab = _text_vocab(adapter) if chinese else None
    if vocab is None or reads_chinese(vocab):
        return None
    chars, _ = chinese_coverage(vocab)
    shown = ", ".join(repr(p[:20]) for p in chinese[:3]) + (" …" if len(chinese) > 3 else "")
    return (f"{adapter.name} cannot read Chinese: its text tower learned English and holds only "
            f"{chars} Chinese characters, so the Chinese prompts ({shown}) are mostly the "
            "unknown token [UNK] and their scores and maps say nothing about what they mean. "
            f"Open '{READS_CHINESE_CLIP}' (Chinese-CLIP) in the model list; it downloads on first "
            "use (the server must reach the Hugging Face hub).")
