"""An image set sent as one zip (the app's upload, or bytes in a notebook): unpacked into a
folder of this call's own, which is removed when the call ends.

The zip holds images.csv (at its top, or inside one folder) and the files it names. It is
checked before anything is written: at most MAX_MEMBERS files, at most MAX_UNPACKED bytes once
unpacked (a small zip can unpack to gigabytes), and no name that leads outside the folder.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

from ..types import InputError
from .dataset_images import CSV_NAME
from .limits import Limits

MAX_UNPACKED = 200 * 2**20      # 1,000 scenes of 64 px with masks: about 3 MB
MAX_ZIP_BYTES = 50 * 2**20


def _safe(name: str) -> bool:
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts and "\\" not in name and ":" not in name


def unpack_images(raw: bytes, lim: Limits, into: Path) -> Path:
    """The folder (under `into`) that holds the zip's images.csv, after the checks above."""
    if len(raw) > MAX_ZIP_BYTES:
        raise InputError(f"The zip is {len(raw) / 2**20:.0f} MB; the limit is "
                         f"{MAX_ZIP_BYTES // 2**20} MB.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise InputError("The file is not a zip: send a zip holding images.csv (columns file, "
                         "prompt, optionally label and mask) and the images it names.") from None
    with zf:
        files = [i for i in zf.infolist() if not i.is_dir()
                 and not i.filename.startswith("__MACOSX/")]     # macOS adds a shadow folder
        if len(files) > 2 * lim.max_rows + 1:                    # an image and a mask per row
            raise InputError(f"The zip holds {len(files):,} files; at most "
                             f"{2 * lim.max_rows + 1:,} (MMINSPECT_MAX_ROWS rows, an image and "
                             "a mask each, and the CSV).")
        bad = [i.filename for i in files if not _safe(i.filename)]
        if bad:
            raise InputError(f"The zip names a file outside its folder ({bad[0][:60]!r}).")
        size = sum(i.file_size for i in files)
        if size > MAX_UNPACKED:
            raise InputError(f"The zip unpacks to {size / 2**20:.0f} MB; the limit is "
                             f"{MAX_UNPACKED // 2**20} MB.")
        csvs = sorted((i.filename for i in files if PurePosixPath(i.filename).name == CSV_NAME),
                      key=lambda n: len(PurePosixPath(n).parts))
        if not csvs:
            raise InputError(f"The zip holds no {CSV_NAME}: put one beside the images (columns "
                             "file, prompt, optionally label and mask).")
        for i in files:
            target = into / PurePosixPath(i.filename)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(i))
    return (into / PurePosixPath(csvs[0])).parent
