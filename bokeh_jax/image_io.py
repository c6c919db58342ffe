"""Reading photos and depth maps, writing images atomically (Pillow)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from bokeh_jax.cli import UserError


def _open(path: str | Path) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read it as an image ({e.__class__.__name__}); is it "
                        "a complete JPEG/PNG/WebP/TIFF file?") from None
    return img


def read_image(path: str | Path) -> np.ndarray:
    """A photo as (H,W,3) float32 RGB in [0,1], EXIF orientation applied."""
    img = ImageOps.exif_transpose(_open(path))
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, np.float32)
        arr = arr / (65535.0 if arr.max() > 255 else 255.0)
        return np.repeat(arr[..., None], 3, axis=-1)
    return np.asarray(img.convert("RGB"), np.float32) / 255.0


def read_depth(path: str | Path) -> np.ndarray:
    """A single-channel depth or disparity image as (H,W) float32 (raw values)."""
    img = ImageOps.exif_transpose(_open(path))
    if img.mode in ("RGB", "RGBA", "P", "LA", "CMYK", "YCbCr"):
        img = img.convert("L")
    return np.asarray(img, np.float32)


def write_image(path: str | Path, image: np.ndarray | Image.Image, **save_kwargs) -> Path:
    """Writes an image atomically: a temporary file beside it, then a rename.

    ``image``: a PIL image, (H,W,3) uint8, or float in [0,1]. The format follows the
    extension; JPEG gets quality 95 unless told otherwise.
    """
    path = Path(path)
    if not isinstance(image, Image.Image):
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            arr = np.clip(np.rint(arr.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
        image = Image.fromarray(arr)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: unknown image extension {path.suffix!r}; use .png, .jpg, "
                        ".webp or .tif")
    if fmt == "JPEG":
        save_kwargs.setdefault("quality", 95)
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format=fmt, **save_kwargs)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
