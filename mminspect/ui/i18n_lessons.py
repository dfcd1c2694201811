"""The Lessons tab's composed texts in each language, known when the page loads, so that
they switch live like the rest (a lesson's own texts come from its file, see
api/languages.lesson_translation; the frame around them from the language's templates)."""
from __future__ import annotations

import re

from .. import api
from .i18n import LOCALES, SOURCE, catalog


def lesson_texts():
    """(English text, {locale: translation}) for the lesson list, each lesson's set-up and
    its question (with and without the hint)."""
    from . import lessons_tab
    lessons = api.list_lessons()
    texts = [lessons_tab.lesson_list_markdown(lessons)]
    for lesson in lessons:
        q = lessons_tab._md(lesson.question)
        texts += [lessons_tab.setup_markdown(lesson), f"**Predict first:** {q}",
                  f"**Predict first:** {q}\n\n*{lessons_tab.HIDDEN}*"]
    for english in texts:
        found = {}
        for loc in LOCALES:
            if loc != SOURCE:
                tr = _compose(loc, english, lessons)
                if tr is not None:
                    found[loc] = tr
        yield english, found


def _compose(locale: str, english: str, lessons) -> str | None:
    """A composed lesson text in `locale`: its template, else the lesson list line by line."""
    cat = catalog(locale)
    head, sep, body = english.partition("\n\n")
    list_head = cat.lookup(head) if sep and head.startswith("**Lessons**") else None
    if list_head is not None:                   # the list: one line per lesson, its title
        lines = [cat.lookup(item) for item in re.split(r"\n(?=\d+\. \*\*)", body)]
        return None if None in lines else list_head + sep + "\n".join(lines)
    return cat.lookup(english)
