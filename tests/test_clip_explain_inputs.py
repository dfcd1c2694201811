"""Bad and unusual inputs of the image-text API: each works (with a note) or raises an
InputError that says what to do."""
import io
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from clip_tiny import tiny_hf_clip_dir, tiny_miniclip  # noqa: E402
from PIL import Image  # noqa: E402

import mminspect as mi  # noqa: E402
from mminspect.api.images import MAX_PIXELS, clean_prompts, read_image  # noqa: E402
from mminspect.types import InputError  # noqa: E402

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (40, 48, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def clip():
    return tiny_miniclip()


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def test_rgba_is_composited_on_white_with_a_note():
    a = np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)])
    a[:10, :, 3] = 0                                        # top rows fully transparent
    notes = []
    im = read_image(Image.fromarray(a, "RGBA"), notes=notes)
    out = np.asarray(im)
    assert im.mode == "RGB" and (out[:10] == 255).all()
    np.testing.assert_array_equal(out[10:], RGB[10:])
    assert any("transparent" in n for n in notes)


@pytest.mark.parametrize("mode", ["L", "P", "1", "CMYK"])
def test_other_8bit_modes_become_rgb(mode):
    notes = []
    im = read_image(Image.fromarray(RGB).convert(mode), notes=notes)
    assert im.mode == "RGB" and im.size == (48, 40) and notes
    if mode == "L":
        g = np.asarray(Image.fromarray(RGB).convert("L"))
        np.testing.assert_array_equal(np.asarray(im)[..., 0], g)


def test_16bit_images_are_scaled_not_clipped():
    a16 = (np.linspace(0, 65535, 40 * 48).reshape(40, 48)).astype(np.uint16)
    for im in (Image.fromarray(a16), Image.open(io.BytesIO(png(Image.fromarray(a16))))):
        notes = []
        out = np.asarray(read_image(im, notes=notes))[..., 0].astype(int)
        assert im.mode in ("I;16", "I") and notes
        # Scaled: the ramp spans 0..255 (a plain convert would saturate most pixels at 255).
        assert out.min() == 0 and out.max() == 255 and abs(np.median(out) - 128) < 3
    arr = read_image(a16, notes=[])                         # a uint16 array too
    assert np.asarray(arr).max() == 255


def test_32bit_integer_mode_with_8bit_values_is_kept():
    im = Image.fromarray(RGB[..., 0].astype(np.int32), "I")
    out = np.asarray(read_image(im, notes=[]))[..., 0]
    np.testing.assert_array_equal(out, RGB[..., 0])


def test_tiny_images_are_refused_and_small_ones_upscaled_with_a_note(clip):
    with pytest.raises(InputError, match="at least 8 pixels"):
        mi.inspect_clip(clip, RGB[:5, :5], ["a cat"])
    view = mi.inspect_clip(clip, RGB[:12, :12], ["a cat"])
    assert any("resized from 12x12" in n for n in view.notes)


def test_huge_pixel_counts_are_refused_before_decoding():
    side = int((MAX_PIXELS * 1.2) ** 0.5)
    data = png(Image.new("L", (side, side)))               # compresses to a few kB
    with pytest.raises(InputError, match="megapixels"):
        read_image(data)
    with pytest.raises(InputError, match="megapixels"):
        read_image(Image.new("1", (side, side)))


def test_corrupt_bytes_say_could_not_read(clip):
    good = png(Image.fromarray(RGB))
    for data in (b"not an image at all", good[: len(good) // 2]):
        with pytest.raises(InputError, match="Could not read the image"):
            mi.inspect_clip(clip, data, ["a cat"])
    view = mi.inspect_clip(clip, good, ["a cat"])          # the whole file works
    assert view.images.shape[0] == 1


def test_paths_floats_and_odd_arrays_are_refused_with_the_fix():
    with pytest.raises(InputError, match="Paths are not read"):
        read_image("/etc/passwd")
    with pytest.raises(InputError, match=r"astype\(np.uint8\)"):
        read_image(RGB / 255.0)
    with pytest.raises(InputError, match="transpose"):
        read_image(RGB.transpose(2, 0, 1))


def test_prompt_lines_empty_duplicates_and_template():
    notes = []
    out = clean_prompts("cat\n\n  dog  \ncat\n   \n", "a photo of a {}", notes)
    assert out == ["a photo of a cat", "a photo of a dog"]
    assert notes == ["Duplicate prompt 'a photo of a cat' removed."]
    assert clean_prompts(["a  red\tsquare"], None, []) == ["a red square"]
    with pytest.raises(InputError, match="exactly one"):
        clean_prompts("cat", "a photo of a cat", [])


def test_zero_and_too_many_prompts_are_refused(clip):
    for empty in ("", "\n \n", [], ["  "]):
        with pytest.raises(InputError, match="No prompts"):
            mi.inspect_clip(clip, RGB, empty)
    with pytest.raises(InputError, match="51 prompts given; the limit is 50"):
        mi.inspect_clip(clip, RGB, [f"shape {i}" for i in range(51)])
    view = mi.inspect_clip(clip, RGB, [f"shape {i}" for i in range(50)])
    assert view.probs.shape == (1, 50)


def test_long_prompts_are_truncated_with_a_note(clip, tmp_path_factory):
    hf = mi.load(str(tiny_hf_clip_dir(tmp_path_factory)))      # its text tower reads 32 tokens
    long = " ".join(["red"] * 60)
    view = mi.inspect_clip(hf, RGB, [long, "a cat"])
    assert any("last 30 tokens were dropped" in n for n in view.notes), view.notes
    assert len(view.texts[0].tokens) == 32 and view.texts[0].n_dropped == 30
    with pytest.raises(InputError, match="limit is 300"):
        mi.inspect_clip(clip, RGB, ["word " * 100])


def test_attribute_image_input_errors(clip):
    with pytest.raises(InputError, match="empty"):
        mi.attribute_image(clip, RGB, "   ")
    with pytest.raises(InputError, match="Unknown method"):
        mi.attribute_image(clip, RGB, "a cat", method="magic")
    with pytest.raises(InputError, match="no parameter"):
        mi.attribute_image(clip, RGB, "a cat", method="integrated_gradients", steps=3)
    with pytest.raises(InputError, match=r"must be in \[4, 256\]"):
        mi.attribute_image(clip, RGB, "a cat", method="integrated_gradients", n_steps=1)
    with pytest.raises(InputError, match="equals the prompt"):
        mi.attribute_image(clip, RGB, "a cat", contrast="a  cat")
    with pytest.raises(InputError, match="mask"):
        mi.attribute_image(clip, RGB, "a cat", mask=np.ones((3, 3), bool))
    with pytest.raises(InputError, match="not an image-text model"):
        mi.inspect_clip(clip.text, RGB, ["a cat"])
