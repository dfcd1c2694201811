"""Large uploads cost little memory: reduced as they are read (a JPEG decoded at reduced scale),
with a note, masks at the file's own size still accepted; and the allocator can be trimmed."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mminspect.api.images import MAX_SIDE, model_mask, read_image
from mminspect.api.memory import release_memory
from mminspect.types import InputError


def encoded(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def picture(w: int, h: int) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_large_upload_is_reduced_as_it_is_read_with_a_note(fmt):
    notes = []
    im = read_image(encoded(picture(3000, 2000), fmt), "the image", notes)
    assert im.mode == "RGB" and max(im.size) == MAX_SIDE
    assert im.size == (MAX_SIDE, round(2000 * MAX_SIDE / 3000))
    assert any("reduced from 3000x2000 to 1024x683" in n for n in notes)


def test_small_uploads_and_in_memory_images_are_kept_as_they_are():
    notes = []
    assert read_image(encoded(picture(640, 480), "PNG"), notes=notes).size == (640, 480)
    assert read_image(picture(3000, 2000), notes=notes).size == (3000, 2000)   # the caller's own
    assert not any("reduced" in n for n in notes)


def test_a_thin_upload_keeps_enough_of_its_short_side_for_the_model():
    im = read_image(encoded(picture(6000, 300), "JPEG"))
    assert min(im.size) >= 256


def test_a_mask_at_the_files_own_size_fits_the_reduced_image():
    im = read_image(encoded(picture(2048, 2048), "PNG"))
    mask = np.zeros((2048, 2048), bool)
    mask[:1024, :1024] = True                              # the top-left quarter
    m = model_mask(mask, im, (64, 64))
    assert m.shape == (64, 64) and m[:30, :30].all() and not m[34:, 34:].any()
    with pytest.raises(InputError, match="mask"):
        model_mask(np.zeros((10, 10), bool), im, (64, 64))


def test_unreadable_and_huge_files_get_the_apps_words_not_pillows():
    whole = encoded(picture(64, 64), "PNG")
    for data in (b"not an image", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
                 whole[: len(whole) // 2]):
        with pytest.raises(InputError, match="Could not read the image") as e:
            read_image(data)
        assert "object at 0x" not in str(e.value) and "Error" not in str(e.value)
    with pytest.raises(InputError, match="400 megapixels; the limit is 40") as e:
        read_image(encoded(Image.new("1", (20000, 20000)), "PNG"))
    assert "DOS" not in str(e.value)


def test_release_memory_trims_and_coalesces():
    first = release_memory()
    assert first["ran"] and isinstance(first["trimmed"], bool) and first["seconds"] >= 0
    assert release_memory(min_interval_s=3600)["ran"] is False
