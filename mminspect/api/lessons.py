"""Guided lessons as data: one TOML file each in `assets/lessons/`, read and checked here.

A lesson sets the app up (model, input, layer, head, query token, panel), asks ONE question
to predict, and reveals an answer that a named *measure* computes live from the real model
(`lesson_measures.MEASURES`). Adding a lesson is adding a file; no code changes.

    lessons = mi.list_lessons()                 # [Lesson, ...] in file-name order
    answer = mi.run_lesson(lessons[1])          # Measured: the right choice and its number

The file format (every field is checked; an error names the file and the field):

    title = "Why divide by √d?"                 # shown in the list
    summary = "…"                               # a few sentences (Markdown)
    why = "…"                                   # one sentence, shown with the answer
    next = "…"                                  # "try this next": one thing to change
    [state]                                     # what the app is set to
    model = "minilm"                            # a registry name (bundled: minilm, miniclip, miniclip2)
    text = "…"                                  # the text (CLIP: the prompts, one per line)
    layer = 0                                   # optional, default 0
    head = 0                                    # optional, default 0
    query = "it"                                # optional: the query token (first match)
    tower = "text"                              # optional: "text" | "image" (CLIP-style)
    example = "scene 1: …"                      # optional: an example image (api.list_examples)
    panel = "softmax"                           # what the reveal shows (PANELS)
    compare_to = "…"                            # optional: a second text (similarity)
    [question]
    text = "Which key gets the most weight?"
    choices = ["…", "…"]                        # or "keys" / "prompts" / "heads": from the run
    measure = "top_key"                         # a name in lesson_measures.MEASURES
"""
from __future__ import annotations

import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..models.assets import asset_dir
from .lesson_measures import MEASURES
from .lesson_types import LessonError, LessonState, Measured

LESSON_DIR = asset_dir("lessons")              # assets/lessons (in a checkout or installed)
# what a lesson's reveal can show: a step of the "How attention works" tab, or a lesson view
STEPS = ("embeddings", "x", "qkv", "scores", "scale", "mask", "softmax", "context", "output",
         "residual")
PANELS = STEPS + ("heads", "clip", "compare")
RUN_CHOICES = ("keys", "prompts", "heads")       # choices filled in from the run


@dataclass(frozen=True)
class Lesson:
    key: str                          # the file name without .toml
    title: str
    summary: str
    state: LessonState
    question: str
    choices: tuple[str, ...] | str    # fixed choices, or one of RUN_CHOICES
    measure: str
    why: str
    next: str
    path: Path = field(default=Path(), compare=False)


def _field(data: dict, name: str, kind, where: str, default=...):
    if name not in data:
        if default is ...:
            raise LessonError(f"{where}: the field '{name}' is missing.")
        return default
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        want = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise LessonError(f"{where}: the field '{name}' must be {want}, got {value!r}.")
    return value


def parse_lesson(data: dict, path: Path) -> Lesson:
    """A Lesson from a parsed file; LessonError naming `path` and the field when it is wrong."""
    name = path.name
    for table in ("state", "question"):
        if not isinstance(data.get(table), dict):
            raise LessonError(f"{name}: the table [{table}] is missing.")
    st, qu = data["state"], data["question"]
    state = LessonState(
        model=_field(st, "model", str, f"{name} [state]"),
        text=_field(st, "text", str, f"{name} [state]"),
        panel=_field(st, "panel", str, f"{name} [state]"),
        layer=_field(st, "layer", int, f"{name} [state]", 0),
        head=_field(st, "head", int, f"{name} [state]", 0),
        query=_field(st, "query", str, f"{name} [state]", None),
        tower=_field(st, "tower", str, f"{name} [state]", "text"),
        example=_field(st, "example", str, f"{name} [state]", None),
        compare_to=_field(st, "compare_to", str, f"{name} [state]", None))
    if state.panel not in PANELS:
        raise LessonError(f"{name} [state]: panel {state.panel!r} is not one of {', '.join(PANELS)}.")
    if state.tower not in ("text", "image"):
        raise LessonError(f"{name} [state]: tower must be 'text' or 'image', got {state.tower!r}.")
    measure = _field(qu, "measure", str, f"{name} [question]")
    if measure not in MEASURES:
        raise LessonError(f"{name} [question]: measure {measure!r} is unknown; known measures: "
                          f"{', '.join(sorted(MEASURES))}.")
    choices = _field(qu, "choices", (list, str), f"{name} [question]")
    if isinstance(choices, str):
        if choices not in RUN_CHOICES:
            raise LessonError(f"{name} [question]: choices must be a list of strings or one of "
                              f"{', '.join(RUN_CHOICES)}, got {choices!r}.")
        m = MEASURES[measure]
        if m.run_choices != choices:
            raise LessonError(f"{name} [question]: measure {measure!r} answers with "
                              + (f"one of {list(m.outcomes)}: list them as the choices."
                                 if m.outcomes else f"choices = \"{m.run_choices}\"."))
    else:
        if len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
            raise LessonError(f"{name} [question]: choices must list at least two non-empty strings.")
        choices = tuple(choices)
        missing = [o for o in MEASURES[measure].outcomes or () if o not in choices]
        if MEASURES[measure].outcomes is None or missing:
            raise LessonError(f"{name} [question]: measure {measure!r} answers with "
                              + (f"one of {list(MEASURES[measure].outcomes)}; add {missing} to the "
                                 "choices." if MEASURES[measure].outcomes else
                                 f"choices from the run: set choices = \"{MEASURES[measure].run_choices}\"."))
    return Lesson(key=path.stem, title=_field(data, "title", str, name),
                  summary=_field(data, "summary", str, name), state=state,
                  question=_field(qu, "text", str, f"{name} [question]"), choices=choices,
                  measure=measure, why=_field(data, "why", str, name),
                  next=_field(data, "next", str, name), path=path)


def load_lesson(path: str | Path) -> Lesson:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise LessonError(f"{path.name}: not valid TOML ({e}).") from None
    return parse_lesson(data, path)


def list_lessons(folder: str | Path | None = None) -> list[Lesson]:
    """Every lesson in `folder` (default: the shipped assets/lessons), in file-name order."""
    return [load_lesson(p) for p in sorted(Path(folder or LESSON_DIR).glob("*.toml"))]


def get_lesson(key_or_title: str, folder: str | Path | None = None) -> Lesson:
    lessons = list_lessons(folder)
    for lesson in lessons:
        if key_or_title in (lesson.key, lesson.title):
            return lesson
    raise InputError(f"No lesson {key_or_title!r}; the lessons are: "
                     + "; ".join(lesson.title for lesson in lessons) + ".")


# (lesson, model name) -> Measured. Why: a lesson's answer is the same for every visitor (the
# measures are deterministic, seeded where they sample), and a class opens the same lesson at
# once: lesson 07 alone runs three integrated-gradients passes (~5 s on 2 cores), so thirty
# students would queue ~150 s of identical work in the lane meant for cheap clicks. Read-only
# values, bounded by the number of lesson files times the bundled models.
_MEASURED: dict[tuple, Measured] = {}
_MEASURED_LOCK = threading.Lock()


def run_lesson(lesson: Lesson | str, model=None) -> Measured:
    """The lesson's answer, measured on the real model (loaded by name unless given). Measured
    once per lesson and model name, then shared; an adapter passed in is always measured."""
    from .availability import exclusive
    from ..models import load
    lesson = get_lesson(lesson) if isinstance(lesson, str) else lesson
    name = model if isinstance(model, str) else (lesson.state.model if model is None else None)
    key = (lesson, name) if name is not None else None
    with _MEASURED_LOCK:
        cached = _MEASURED.get(key) if key is not None else None
    if cached is not None:
        return cached
    adapter = model if model is not None and not isinstance(model, str) else load(name)
    with exclusive(adapter):
        out = MEASURES[lesson.measure].fn(adapter, lesson.state)
    if isinstance(lesson.choices, tuple):
        out = Measured(answer=out.answer, value=out.value, text=out.text, choices=lesson.choices,
                       evidence=out.evidence)
    if key is not None:
        with _MEASURED_LOCK:
            _MEASURED[key] = out
    return out
