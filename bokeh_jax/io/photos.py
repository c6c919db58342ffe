"""Reading photos and depth maps, writing images atomically (Pillow).

Real-world photos come in many forms; :func:`read_photo` turns any of them into one
(H,W,3) float32 RGB array in [0,1] as the photo is displayed, plus what must survive into the
output (:class:`Photo`):

- EXIF orientation is applied (the pixels are turned, the tag dropped from the kept EXIF);
- grayscale (8/16-bit, bilevel), palette (with or without transparency), CMYK (through its
  ICC profile when it has one, then tagged sRGB), RGBA/LA and 16-bit files are read; 16-bit
  channels keep their top 8 bits (Pillow's reduction; outputs are 8 bits per channel);
- the alpha channel is kept as it is, to be written back unchanged;
- the ICC profile and the EXIF block are kept for the output.

Any file that cannot be decoded (not an image, truncated, empty, too large for Pillow's
decompression-bomb guard) raises a :class:`~bokeh_jax.errors.UserError` naming it.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from bokeh_jax.errors import UserError
from bokeh_jax.files import write_file
from bokeh_jax.io.viz import to_uint8

# Extensions taken as images when a folder is given; any file named explicitly is tried.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif")
# Output formats (by extension) and whether they hold an alpha channel.
OUTPUT_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP",
                  ".tif": "TIFF", ".tiff": "TIFF"}
_ALPHA_FORMATS = ("PNG", "WEBP", "TIFF")
_ORIENTATION = 0x0112


@dataclass
class Photo:
    """A decoded photo and what its output keeps."""

    rgb: np.ndarray  # (H,W,3) float32 in [0,1], EXIF orientation applied
    alpha: np.ndarray | None  # (H,W) uint8 as in the file, or None when opaque
    gray: bool  # single-channel source: written back as grayscale
    icc_profile: bytes | None
    exif: bytes | None  # EXIF without the orientation tag
    mode: str  # Pillow's mode of the source (for messages)

    @property
    def hw(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]


def _open(path: str | Path) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty; copy it again")
    try:
        img = Image.open(path)
        img.load()
    except Image.DecompressionBombError as e:
        raise UserError(f"{path}: too many pixels for a safe decode ({e}); shrink the "
                        "photo first") from None
    except Exception as e:  # noqa: BLE001 - any decoder failure means "not a readable image"
        if path.suffix.lower() in (".tif", ".tiff"):
            return _open_tiff_cv2(path, e)
        raise UserError(f"{path}: cannot read it as an image ({type(e).__name__}: {e}); is "
                        "it a complete JPEG/PNG/WebP/TIFF file?") from None
    return img


def _open_tiff_cv2(path: Path, error: Exception) -> Image.Image:
    """Float and other TIFF layouts Pillow does not decode, through OpenCV (no EXIF then)."""
    try:
        import cv2  # optional (the test extra): only for TIFFs Pillow cannot decode
    except ImportError:
        cv2 = None
    arr = None if cv2 is None else cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.ndim not in (2, 3):
        raise UserError(f"{path}: cannot read it as an image ({type(error).__name__}: "
                        f"{error}); is it a complete TIFF file?") from None
    if arr.ndim == 3:
        arr = arr[..., [2, 1, 0, 3][:arr.shape[2]]] if arr.shape[2] in (3, 4) else arr[..., 0]
    if arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535.0
    elif arr.dtype != np.uint8:
        arr = np.clip(arr.astype(np.float32), 0.0, 1.0)
    else:
        arr = arr.astype(np.float32) / 255.0
    u8 = np.rint(arr * 255.0).astype(np.uint8)
    return Image.fromarray(u8 if u8.ndim == 2 else np.ascontiguousarray(u8))


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _cmyk_to_rgb(img: Image.Image) -> tuple[Image.Image, bytes | None]:
    """CMYK -> RGB through the embedded profile (then tagged sRGB), else Pillow's formula."""
    icc = img.info.get("icc_profile")
    if icc:
        from PIL import ImageCms

        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            return ImageCms.profileToProfile(img, src, dst, outputMode="RGB"), _srgb_profile()
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to the plain formula below
    return img.convert("RGB"), None


def _pixels(img: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(rgb float32 (H,W,3) in [0,1], alpha uint8 (H,W) or None, gray) of a decoded image."""
    mode = img.mode
    if mode == "P" and "transparency" in img.info or mode == "PA":
        img, mode = img.convert("RGBA"), "RGBA"
    if mode.startswith("I;16"):
        gray = _unit(np.asarray(img), 65535)
        return np.repeat(gray[..., None], 3, axis=-1), None, True
    if mode in ("I", "F"):
        v = np.asarray(img, np.float32)
        # "I": 32-bit integers, from 16-bit sources on older Pillows; "F": float in [0,1].
        v = v / (65535.0 if v.max(initial=0) > 255 else 255.0) if mode == "I" else v
        return np.repeat(np.clip(v, 0.0, 1.0)[..., None], 3, axis=-1), None, True
    if mode in ("1", "L"):
        gray = _unit(np.asarray(img.convert("L")))
        return np.repeat(gray[..., None], 3, axis=-1), None, True
    if mode in ("LA", "La"):
        arr = np.asarray(img.convert("LA"))
        gray = _unit(arr[..., 0])
        return np.repeat(gray[..., None], 3, axis=-1), arr[..., 1].copy(), True
    if mode in ("RGBA", "RGBa"):
        arr = np.asarray(img.convert("RGBA"))
        return _unit(arr[..., :3]), arr[..., 3].copy(), False
    try:
        rgb = img if mode == "RGB" else img.convert("RGB")
    except (ValueError, OSError) as e:
        raise UserError(f"{path}: unsupported colour mode {mode!r} ({e}); save it as RGB "
                        "first") from None
    return _unit(np.asarray(rgb)), None, False


def _unit(arr: np.ndarray, top: int = 255) -> np.ndarray:
    # One float32 pass: astype-then-divide allocates twice, which on a 48 MP photo costs
    # seconds of page faults on this machine.
    return np.divide(arr, np.float32(top), dtype=np.float32)


def read_photo(path: str | Path) -> Photo:
    """Decodes any photo (see the module docstring) into a :class:`Photo`."""
    path = Path(path)
    img = _open(path)
    mode = img.mode
    # A damaged EXIF block is ignored: the pixels are used as stored.
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(img, in_place=True)  # no copy when already upright
    icc = img.info.get("icc_profile")
    if img.mode == "CMYK":
        img, icc = _cmyk_to_rgb(img)
    rgb, alpha, gray = _pixels(img, path)
    exif = None
    try:
        tags = img.getexif()
        if len(tags):
            tags.pop(_ORIENTATION, None)
            exif = tags.tobytes()
    except Exception:  # noqa: BLE001 - unreadable EXIF is dropped, not fatal
        exif = None
    if icc and not _icc_matches(icc, gray):
        icc = None  # e.g. a gray profile on a palette image turned RGB
    return Photo(np.ascontiguousarray(rgb), alpha, gray, icc or None, exif, mode)


def _icc_matches(icc: bytes, gray: bool) -> bool:
    """Whether an ICC profile's colour space (header bytes 16..20) fits the output's."""
    space = bytes(icc[16:20])
    return space == (b"GRAY" if gray else b"RGB ")


def read_image(path: str | Path) -> np.ndarray:
    """A photo as (H,W,3) float32 RGB in [0,1], EXIF orientation applied."""
    return read_photo(path).rgb


def read_depth(path: str | Path) -> np.ndarray:
    """A single-channel depth or disparity map as (H,W) float32 (raw values).

    Images (8/16-bit, float TIFF; colour ones are turned to luminance) and ``.npy`` arrays
    of shape (H,W) or (H,W,1).
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise UserError(f"{path}: no such file")
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise UserError(f"{path}: cannot read it as a .npy array ({e})") from None
        arr = np.squeeze(arr, axis=-1) if arr.ndim == 3 and arr.shape[-1] == 1 else arr
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
            raise UserError(f"{path}: a depth array must be numeric of shape (H,W), got "
                            f"{arr.dtype} {arr.shape}")
        return arr.astype(np.float32)
    img = ImageOps.exif_transpose(_open(path))
    if img.mode in ("RGB", "RGBA", "P", "PA", "LA", "CMYK", "YCbCr", "1"):
        img = img.convert("L")
    return np.asarray(img, np.float32)


def output_format(path: str | Path) -> str | None:
    """Pillow's format name for an output path's extension, or None if not supported."""
    return OUTPUT_FORMATS.get(Path(path).suffix.lower())


def keeps_alpha(path: str | Path) -> bool:
    """Whether the output format of ``path`` holds an alpha channel (JPEG does not)."""
    return output_format(path) in _ALPHA_FORMATS


def write_photo(path: str | Path, rgb: np.ndarray, photo: Photo, quality: int = 95) -> Path:
    """Writes a rendered (H,W,3) uint8 image with what ``photo`` keeps, atomically.

    Grayscale sources are written as grayscale; the alpha channel is written back unchanged
    where the format holds one; the ICC profile and EXIF (orientation removed) are kept.
    ``quality`` applies to JPEG and WebP.
    """
    path = Path(path)
    fmt = output_format(path)
    if fmt is None:
        raise UserError(f"{path}: cannot write {path.suffix!r} files; use .jpg, .png, .webp "
                        "or .tif")
    rgb = np.asarray(rgb)
    img = Image.fromarray(np.ascontiguousarray(rgb[..., 0]) if photo.gray else rgb)
    if photo.alpha is not None and fmt in _ALPHA_FORMATS:
        img = img.convert("LA" if photo.gray else "RGBA")
        img.putalpha(Image.fromarray(photo.alpha))
    kwargs: dict = {}
    if photo.icc_profile:
        kwargs["icc_profile"] = photo.icc_profile
    if photo.exif:
        kwargs["exif"] = photo.exif
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = int(quality)
    try:
        return write_image(path, img, **kwargs)
    except ValueError as e:
        if "exif" not in kwargs or "EXIF" not in str(e).upper():
            raise
        kwargs.pop("exif")  # JPEG caps EXIF at 64 KiB: keep the pixels, drop the metadata
        return write_image(path, img, **kwargs)


def write_image(path: str | Path, image: np.ndarray | Image.Image, **save_kwargs) -> Path:
    """Writes an image atomically: a temporary file beside it, then a rename.

    ``image``: a PIL image, (H,W,3) uint8, or float in [0,1]. The format follows the
    extension; JPEG gets quality 95 unless told otherwise.
    """
    path = Path(path)
    if not isinstance(image, Image.Image):
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            arr = to_uint8(arr)
        image = Image.fromarray(arr)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: unknown image extension {path.suffix!r}; use .png, .jpg, "
                        ".webp or .tif")
    if fmt == "JPEG":
        save_kwargs.setdefault("quality", 95)
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
    return write_file(path, lambda f: image.save(f, format=fmt, **save_kwargs))
