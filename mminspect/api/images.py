"""Images and prompts from users, checked and converted before any model sees them.

Accepted images: a PIL image, a numpy array (uint8 [H, W], [H, W, 3] or [H, W, 4]; uint16 is
scaled to 8 bits) or the raw bytes of an uploaded file. Never a path or a URL: the library
does not read files on behalf of a web request. Every conversion that changes what the model
sees (mode, transparency, bit depth, crop and resize) leaves a note for people.

Uploaded files (bytes) are reduced to MAX_SIDE pixels on their longer side as they are read
(a JPEG is decoded at 1/2 to 1/8 scale directly, `Image.draft`), with a note. Why: the models
see at most a few hundred pixels per side, and the app keeps the decoded image in the
visitor's session (gradio keeps a closed session's state for an hour): a 6000 x 6000 upload
held 108 MB there, 3 MB once reduced. A mask given with such an image may be at the file's
own size (`model_mask` scales it).
"""
from __future__ import annotations

import io
import math
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..types import InputError

MAX_PIXELS = 40_000_000     # below Pillow's decompression-bomb threshold (~89 Mpx)
MAX_SIDE = 1024             # uploaded files are reduced to this on their longer side when read
KEEP_SHORT = 256            # ... but their shorter side stays at least this long
ORIENTATION = 0x0112        # the EXIF tag exif_transpose reads
ORIGINAL_SIZE = "mminspect_original_size"   # im.info key: the file's (w, h) before reduction
MIN_SIDE = 8                # smaller than one patch of most models: nothing to explain
MAX_IMAGES = 16
MAX_PROMPTS = 50
MAX_PROMPT_CHARS = 300
MODES_16BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _check_size(w: int, h: int, what: str) -> None:
    if w * h > MAX_PIXELS:
        raise InputError(f"{what} is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is "
                         f"{MAX_PIXELS / 1e6:.0f} megapixels. Downscale it first (the model "
                         "sees at most a few hundred pixels per side anyway).")
    if min(w, h) < MIN_SIDE:
        raise InputError(f"{what} is only {w}x{h} pixels; at least {MIN_SIDE} pixels per side "
                         "are needed. Upload a larger image.")


def _bomb_size(e: Exception) -> int | None:
    """The pixel count in Pillow's decompression-bomb message, if it gives one."""
    m = re.search(r"\((\d+) pixels\)", str(e))
    return int(m.group(1)) if m else None


def _from_bytes(data: bytes, what: str, notes: list[str]) -> Image.Image:
    # The messages are the app's own: Pillow's text (object reprs, "DOS attack") is not shown.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            _check_size(*im.size, what)            # before decoding: the header gives the size
            if getattr(im, "n_frames", 1) > 1:
                notes.append(f"{what} has {im.n_frames} frames; the first one is used.")
            w, h = im.size
            scale = _scale(w, h)
            if scale < 1:                          # JPEG: decode at 1/2..1/8 scale, not in full
                im.draft(None, (math.ceil(w * scale), math.ceil(h * scale)))
            turned = im.getexif().get(ORIENTATION) in (5, 6, 7, 8)
            im.load()
            im = ImageOps.exif_transpose(im)       # phone photos: upright as people see them
            im.info[ORIGINAL_SIZE] = (h, w) if turned else (w, h)   # as people see it
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        n = _bomb_size(e)
        size = f"{n / 1e6:.0f} megapixels" if n else "too many pixels"
        raise InputError(f"{what} is {size}; the limit is {MAX_PIXELS / 1e6:.0f} megapixels. "
                         "Downscale it first (the model sees at most a few hundred pixels per "
                         "side anyway).") from None
    except UnidentifiedImageError:
        raise InputError(f"Could not read {what}: the file is not an image this app can decode. "
                         "Upload a PNG, JPEG, GIF, BMP or WebP file.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise InputError(f"Could not read {what}: the file is damaged or cut short. Upload a "
                         "PNG, JPEG, GIF, BMP or WebP file.") from None
    return im


def _from_array(a: np.ndarray, what: str, notes: list[str]) -> Image.Image:
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise InputError(f"{what}: an array image must be [H, W], [H, W, 3] or [H, W, 4], got "
                         f"shape {a.shape}. For [3, H, W] use a.transpose(1, 2, 0).")
    _check_size(a.shape[1], a.shape[0], what)
    if a.dtype == np.uint16:
        notes.append(f"{what}: 16-bit values scaled to 8 bits.")
        a = (a // 257).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise InputError(f"{what}: an array image must be uint8 (0-255), got {a.dtype}. Convert "
                         "floats in [0, 1] with (a * 255).round().astype(np.uint8).")
    return Image.fromarray(np.ascontiguousarray(a))


def _to_rgb(im: Image.Image, what: str, notes: list[str]) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in MODES_16BIT:
        a = np.asarray(im, dtype=np.float64)
        top = 255 if a.max() <= 255 else 65535 if a.max() <= 65535 else a.max()
        notes.append(f"{what}: {im.mode} image ({'16-bit' if top == 65535 else 'high bit depth'}) "
                     "scaled to 8-bit RGB.")
        a = np.clip(a / top * 255 if top != 255 else a, 0, 255).round().astype(np.uint8)
        return Image.fromarray(a).convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            notes.append(f"{what}: transparent pixels shown on white.")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    notes.append(f"{what}: {'greyscale' if im.mode in ('L', '1') else im.mode} image converted to RGB.")
    return im.convert("RGB")


def _scale(w: int, h: int) -> float:
    """How much an upload is reduced: its longer side to MAX_SIDE, but the shorter side (the
    centre square the models see) never below KEEP_SHORT; 1 = kept as it is."""
    return min(1.0, max(MAX_SIDE / max(w, h), KEEP_SHORT / min(w, h)))


def _reduce(im: Image.Image, original: tuple[int, int], what: str, notes: list[str]) -> Image.Image:
    """An upload larger than MAX_SIDE on its longer side -> MAX_SIDE, with a note."""
    w, h = im.size
    scale = _scale(w, h)
    if scale < 1:
        im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                       Image.Resampling.LANCZOS, reducing_gap=3.0)
    if im.size != original:
        notes.append(f"{what} reduced from {original[0]}x{original[1]} to {im.size[0]}x"
                     f"{im.size[1]} as it was read (the model sees at most a few hundred pixels "
                     "per side).")
        im.info[ORIGINAL_SIZE] = original
    return im


def read_image(image, what: str = "the image", notes: list[str] | None = None) -> Image.Image:
    """Any accepted input -> an RGB PIL image, or an InputError that says what to do.
    Bytes (an uploaded file) larger than MAX_SIDE per side are reduced to it, with a note."""
    notes = [] if notes is None else notes
    if isinstance(image, (bytes, bytearray, memoryview)):
        im = _from_bytes(bytes(image), what, notes)
        original = im.info.get(ORIGINAL_SIZE, im.size)
        _check_size(*im.size, what)
        return _reduce(_to_rgb(im, what, notes), original, what, notes)
    elif isinstance(image, np.ndarray):
        im = _from_array(image, what, notes)
    elif isinstance(image, Image.Image):
        im = image
    else:
        raise InputError(f"{what}: expected a PIL image, a uint8 numpy array or the bytes of an "
                         f"image file, got {type(image).__name__}. Paths are not read: open the "
                         "file yourself (PIL.Image.open) and pass the image.")
    _check_size(*im.size, what)
    return _to_rgb(im, what, notes)


def read_images(images, notes: list[str]) -> list[Image.Image]:
    """One image or a list / tuple of them (a 4-D uint8 array is a batch)."""
    if isinstance(images, (list, tuple)):
        items = list(images)
    elif isinstance(images, np.ndarray) and images.ndim == 4:
        items = list(images)
    else:
        items = [images]
    if not items:
        raise InputError("No image given: upload an image or pick an example.")
    if len(items) > MAX_IMAGES:
        raise InputError(f"{len(items)} images given; the limit is {MAX_IMAGES} at once.")
    one = len(items) == 1
    return [read_image(x, "the image" if one else f"image {i + 1}", notes) for i, x in enumerate(items)]


def model_view(im: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The image as the CLIP towers see it, for overlays: the centre square of the shorter
    side resized to `size` (height, width) -> uint8 [H, W, 3]."""
    w, h = im.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    return np.asarray(im.resize((size[1], size[0]), Image.Resampling.BICUBIC, box=box))


def resize_note(im: Image.Image, size: tuple[int, int], what: str) -> str | None:
    w, h = im.size
    if (h, w) == tuple(size):
        return None
    crop = ", centre crop of the longer side" if w != h else ""
    return f"{what} resized from {w}x{h} to {size[1]}x{size[0]}{crop}."


def model_mask(mask, im: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """A bool mask at the uploaded image's size -> bool [H, W] aligned with `model_view`."""
    m = np.asarray(mask)
    original = im.info.get(ORIGINAL_SIZE)                 # an upload reduced when it was read
    if original is not None and m.shape == (original[1], original[0]) != (im.size[1], im.size[0]):
        m = np.asarray(Image.fromarray(m.astype(bool).astype(np.uint8) * 255)
                       .resize(im.size, Image.Resampling.NEAREST)) > 127
    if m.shape != (im.size[1], im.size[0]):
        raise InputError(f"The mask is {m.shape[::-1]} but the image is {im.size}; give a "
                         "[H, W] boolean mask of the image's own size.")
    pil = Image.fromarray(m.astype(bool).astype(np.uint8) * 255)
    return model_view(pil.convert("RGB"), size)[..., 0] > 127


def clean_prompts(prompts, template: str | None, notes: list[str]) -> list[str]:
    """Prompts one per line (a string) or a list; empty lines dropped; the template applied;
    duplicates removed; 1..MAX_PROMPTS kept."""
    if isinstance(prompts, str):
        lines = prompts.splitlines()
    elif isinstance(prompts, (list, tuple)):
        lines = [str(p) for p in prompts]
    else:
        raise InputError(f"prompts must be a string (one per line) or a list of strings, got "
                         f"{type(prompts).__name__}.")
    if template is not None and template.strip():
        if template.count("{}") != 1:
            raise InputError(f"The template {template!r} needs exactly one {{}} where the prompt "
                             "goes, e.g. 'a photo of a {}'.")
    else:
        template = None
    out: list[str] = []
    for line in lines:
        p = " ".join(line.split())
        if not p:
            continue
        if len(p) > MAX_PROMPT_CHARS:
            raise InputError(f"A prompt is {len(p)} characters; the limit is {MAX_PROMPT_CHARS} "
                             f"(the text tower reads only its first tokens): {p[:40]!r}...")
        p = template.replace("{}", p) if template else p
        if p in out:
            notes.append(f"Duplicate prompt {p!r} removed.")
            continue
        out.append(p)
    if not out:
        raise InputError("No prompts: type one label per line, e.g. 'a cat' and 'a dog'.")
    if len(out) > MAX_PROMPTS:
        raise InputError(f"{len(out)} prompts given; the limit is {MAX_PROMPTS}. Keep the labels "
                         "you want to compare.")
    return out
