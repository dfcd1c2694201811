"""Everyday objects for mini-CLIP 2: colour emoji rendered with Pillow, with exact masks.

Source: the Noto Color Emoji font Debian packages (`fonts-noto-color-emoji`, SIL Open Font
Licence), rendered at its native bitmap size (109 px) and scaled; an object's mask is its
alpha channel (> 50 %), so a map can be scored against the pixels the object really covers.
Names come from Python's `unicodedata` (lower case), shortened by a small table where the
Unicode name is not what people say ("AUTOMOBILE" -> "car").

Only training and evaluation draw emoji; the app shows scenes rendered in advance (assets/),
so a host needs no font. Photos stay out of the model's world: these are flat cartoons.
"""
from __future__ import annotations

import os
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_PATHS = ("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
              "/usr/share/fonts/noto/NotoColorEmoji.ttf")
NATIVE_PX = 109            # the size of the font's colour bitmaps (CBDT): other sizes fail

# Grouped by kind (animals, food, vehicles, tools, plants, things); 64 in all.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "animal": ("🐈", "🐕", "🐎", "🐄", "🐖", "🐇", "🐁", "🐘", "🐦", "🐟", "🐸", "🐢", "🐌",
               "🐙", "🦋", "🐝"),
    "food": ("🍎", "🍌", "🍇", "🍐", "🍒", "🍓", "🥕", "🍞", "🧀", "🍔", "🍕", "🍋", "🍉",
             "🍍"),
    "vehicle": ("🚗", "🚌", "🚲", "🚀", "🚁", "⛵", "🚜", "🚂", "🛵"),
    "tool": ("🔨", "🔧", "✂️", "🔑", "📎", "🔒", "🪓", "🧲"),
    "plant": ("🌻", "🌷", "🌵", "🌳", "🌲", "🍁", "🍄", "🌿"),
    "thing": ("☂️", "🎸", "📕", "⚽", "💡", "🎈", "👟", "🎩", "⏰"),
}
# Unicode names people would not say, and what they would.
SHORT = {"automobile": "car", "frog face": "frog", "red apple": "apple", "honeybee": "bee",
         "deciduous tree": "tree", "evergreen tree": "fir tree", "slice of pizza": "pizza",
         "steam locomotive": "train", "sailboat": "sailboat", "closed book": "book",
         "electric light bulb": "light bulb", "bread": "bread", "cheese wedge": "cheese",
         "motor scooter": "scooter", "horse": "horse", "athletic shoe": "shoe",
         "top hat": "top hat", "alarm clock": "alarm clock", "maple leaf": "maple leaf",
         "herb": "herb", "magnet": "magnet", "wrench": "wrench", "black scissors": "scissors",
         "umbrella": "umbrella", "soccer ball": "football", "paperclip": "paper clip",
         "balloon": "balloon", "snail": "snail", "lock": "padlock"}


class FontMissing(RuntimeError):
    """The emoji font is not installed (training / evaluation need it; the app does not)."""


def font_path() -> Path:
    for p in (os.environ.get("MMINSPECT_EMOJI_FONT", ""), *FONT_PATHS):
        if p and Path(p).is_file():
            return Path(p)
    raise FontMissing("The colour emoji font is missing: `apt-get install fonts-noto-color-emoji` "
                      "(or set MMINSPECT_EMOJI_FONT to NotoColorEmoji.ttf). Only training and "
                      "evaluating mini-CLIP 2 need it.")


def name_of(emoji: str) -> str:
    """'🚗' -> 'car': the Unicode name of its first code point, lower case, shortened."""
    name = unicodedata.name(emoji[0]).lower()
    return SHORT.get(name, name)


def all_emoji() -> tuple[str, ...]:
    return tuple(e for group in CATEGORIES.values() for e in group)


def group_of(emoji: str) -> str:
    return next(g for g, members in CATEGORIES.items() if emoji in members)


@lru_cache(maxsize=None)
def sprite(emoji: str) -> np.ndarray:
    """uint8 [h, w, 4] RGBA, cropped to the drawn pixels, at the font's native size."""
    font = ImageFont.truetype(str(font_path()), NATIVE_PX)
    canvas = Image.new("RGBA", (NATIVE_PX * 2, NATIVE_PX * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((NATIVE_PX // 2, NATIVE_PX // 2), emoji, font=font,
                                embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        raise ValueError(f"{emoji!r} ({name_of(emoji)}) draws nothing in {font_path().name}")
    return np.asarray(canvas.crop(box))


def scaled(emoji: str, longest: int) -> np.ndarray:
    """The sprite with its longer side `longest` px (LANCZOS; alpha kept), uint8 [h, w, 4]."""
    s = sprite(emoji)
    h, w = s.shape[:2]
    k = longest / max(h, w)
    size = (max(1, round(w * k)), max(1, round(h * k)))
    return np.asarray(Image.fromarray(s).resize(size, Image.LANCZOS))
