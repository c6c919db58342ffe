"""image_io: real-world photo files generated here, read against independent references.

Every kind of file the renderer promises to handle is made in the test (CMYK JPEG, 16-bit
PNGs, RGBA PNG, palette GIFs, an EXIF-rotated JPEG with ICC profile, truncated/empty/text
files, 1x1, 17x23, grayscale, float TIFF) and read back; references come from OpenCV's
decoder, the palette table itself, or the array the file was made from. No JAX here.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from bokeh_jax.errors import UserError
from bokeh_jax.io.photos import keeps_alpha, read_depth, read_image, read_photo, write_photo

H, W = 17, 23
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def smooth_rgb(h: int = H, w: int = W) -> np.ndarray:
    """A smooth, asymmetric uint8 picture (JPEG keeps it within a few levels)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([40 + 180 * x / max(w - 1, 1), 30 + 200 * y / max(h - 1, 1),
                    np.full_like(x, 90.0)], -1)
    return np.rint(rgb).astype(np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(0)
    rgb = smooth_rgb()
    f = {}
    # CMYK JPEG (Pillow writes Adobe CMYK, as Photoshop does).
    f["cmyk"] = d / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(f["cmyk"], quality=98)
    # 16-bit RGB and gray PNGs (OpenCV writes 16 bits per channel).
    f["rgb16"] = d / "rgb16.png"
    cv2.imwrite(str(f["rgb16"]), (rng.random((H, W, 3)) * 65535).astype(np.uint16))
    f["gray16"] = d / "gray16.png"
    cv2.imwrite(str(f["gray16"]), (rng.random((H, W)) * 65535).astype(np.uint16))
    # A dark 16-bit gray photo: values < 256 must not be taken for 8-bit ones.
    f["gray16_dark"] = d / "gray16_dark.png"
    cv2.imwrite(str(f["gray16_dark"]), (rng.random((H, W)) * 200).astype(np.uint16))
    # RGBA PNG with a varied alpha.
    f["rgba"] = d / "rgba.png"
    Image.fromarray((rng.random((H, W, 4)) * 255).astype(np.uint8), "RGBA").save(f["rgba"])
    # Palette GIFs, one with a transparent index.
    f["gif"] = d / "palette.gif"
    Image.fromarray((rng.random((H, W, 3)) * 255).astype(np.uint8)).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=16).save(f["gif"])
    f["gif_t"] = d / "palette_t.gif"
    Image.open(f["gif"]).save(f["gif_t"], transparency=3)
    # EXIF orientation 6 (turn 90 degrees clockwise to display), ICC and a sub-IFD tag.
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "TestCam"
    exif.get_ifd(0x8769)[0x9003] = "2024:01:02 03:04:05"
    f["rot6"] = d / "rot6.jpg"
    Image.fromarray(np.ascontiguousarray(np.rot90(rgb))).save(
        f["rot6"], quality=98, exif=exif.tobytes(), icc_profile=SRGB)
    # Unreadable: truncated JPEG, text named .jpg, empty file.
    data = (d / "rot6.jpg").read_bytes()
    f["truncated"] = d / "truncated.jpg"
    f["truncated"].write_bytes(data[:len(data) // 2])
    f["text"] = d / "notes.jpg"
    f["text"].write_text("this is not a photo\n")
    f["empty"] = d / "empty.png"
    f["empty"].write_bytes(b"")
    # Sizes and plain modes.
    f["one"] = d / "one.png"
    Image.fromarray(np.array([[[200, 10, 30]]], np.uint8)).save(f["one"])
    f["rgb"] = d / "rgb.png"
    Image.fromarray(rgb).save(f["rgb"])
    f["gray"] = d / "gray.png"
    Image.fromarray(rgb[..., 1]).save(f["gray"])
    f["la"] = d / "la.png"
    Image.fromarray(np.stack([rgb[..., 0], rgb[..., 2]], -1), "LA").save(f["la"])
    f["float_tif"] = d / "float.tif"  # 3-channel float32: Pillow cannot, OpenCV can
    cv2.imwrite(str(f["float_tif"]), rng.random((H, W, 3)).astype(np.float32))
    return f


def test_rgb_png_and_sizes_exact(files):
    p = read_photo(files["rgb"])
    np.testing.assert_array_equal(p.rgb, smooth_rgb() / np.float32(255.0))
    assert p.rgb.dtype == np.float32 and p.hw == (H, W) and p.alpha is None and not p.gray
    one = read_photo(files["one"])
    assert one.rgb.shape == (1, 1, 3)
    np.testing.assert_allclose(one.rgb[0, 0], np.array([200, 10, 30]) / 255.0, rtol=1e-6)


def test_sixteen_bit_pngs_against_opencv(files):
    ref = cv2.imread(str(files["rgb16"]), cv2.IMREAD_UNCHANGED)[..., ::-1]
    # Pillow keeps the top 8 bits of each 16-bit channel.
    np.testing.assert_allclose(read_image(files["rgb16"]) * 255.0, ref >> 8, atol=1e-3)
    for key in ("gray16", "gray16_dark"):
        ref = cv2.imread(str(files[key]), cv2.IMREAD_UNCHANGED).astype(np.float32) / 65535.0
        p = read_photo(files[key])
        assert p.gray
        np.testing.assert_allclose(p.rgb, np.repeat(ref[..., None], 3, -1), atol=1e-7)


def test_cmyk_jpeg_reads_as_its_rgb(files):
    p = read_photo(files["cmyk"])
    assert p.mode == "CMYK" and p.hw == (H, W) and not p.gray
    assert np.abs(p.rgb * 255.0 - smooth_rgb()).mean() < 3.0


def test_rgba_alpha_kept_exactly_and_written_back(files, tmp_path):
    src = np.asarray(Image.open(files["rgba"]))
    p = read_photo(files["rgba"])
    np.testing.assert_array_equal(p.alpha, src[..., 3])
    np.testing.assert_array_equal(np.rint(p.rgb * 255), src[..., :3])
    out = write_photo(tmp_path / "o.png", src[..., :3][:, ::-1].copy(), p)
    back = np.asarray(Image.open(out))
    assert back.shape == (H, W, 4)
    np.testing.assert_array_equal(back[..., 3], src[..., 3])
    np.testing.assert_array_equal(back[..., :3], src[..., :3][:, ::-1])
    assert keeps_alpha("x.png") and keeps_alpha("x.webp") and not keeps_alpha("x.jpg")
    jpg = write_photo(tmp_path / "o.jpg", src[..., :3], p)  # JPEG: colour only
    assert Image.open(jpg).mode == "RGB"


def test_palette_gifs_against_the_palette_table(files):
    img = Image.open(files["gif"])
    table = np.array(img.getpalette(), np.uint8).reshape(-1, 3)
    ref = table[np.asarray(img)]
    np.testing.assert_array_equal(np.rint(read_photo(files["gif"]).rgb * 255), ref)
    t = read_photo(files["gif_t"])
    index = np.asarray(Image.open(files["gif_t"]))
    np.testing.assert_array_equal(t.alpha, np.where(index == 3, 0, 255))


def test_exif_rotated_jpeg_turned_and_metadata_kept(files, tmp_path):
    p = read_photo(files["rot6"])
    assert p.hw == (H, W)  # stored W x H, displayed H x W
    want = smooth_rgb().astype(np.float32)
    err = np.abs(p.rgb * 255 - want).mean()
    upside_down = np.abs(np.rot90(p.rgb, 2) * 255 - want).mean()
    assert err < 3.0 < upside_down  # turned clockwise, not counter-clockwise
    assert p.icc_profile == SRGB
    out = write_photo(tmp_path / "r.jpg", np.rint(p.rgb * 255).astype(np.uint8), p)
    back = Image.open(out)
    assert back.size == (W, H)
    exif = back.getexif()
    assert 0x0112 not in exif and exif[0x010F] == "TestCam"
    assert exif.get_ifd(0x8769)[0x9003] == "2024:01:02 03:04:05"
    assert back.info["icc_profile"] == SRGB
    # Written again without turning: a viewer shows it the same way as the source.
    assert read_photo(out).hw == (H, W)


def test_grayscale_sources_written_as_grayscale(files, tmp_path):
    for key, mode in (("gray", "L"), ("la", "LA")):
        p = read_photo(files[key])
        assert p.gray and p.rgb.shape == (H, W, 3)
        np.testing.assert_array_equal(p.rgb[..., 0], p.rgb[..., 2])
        out = write_photo(tmp_path / f"{key}.png", np.rint(p.rgb * 255).astype(np.uint8), p)
        back = Image.open(out)
        assert back.mode == mode
        np.testing.assert_array_equal(np.asarray(back.convert("L")),
                                      np.asarray(Image.open(files[key]).convert("L")))


def test_float_tiff_through_opencv(files):
    ref = cv2.imread(str(files["float_tif"]), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_allclose(read_image(files["float_tif"]), ref, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("key", ["truncated", "text", "empty"])
def test_unreadable_files_name_themselves_in_one_line(files, key):
    with pytest.raises(UserError) as e:
        read_photo(files[key])
    msg = str(e.value)
    assert str(files[key]) in msg and "\n" not in msg


def test_missing_file_and_depth_formats(files, tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_photo(tmp_path / "nope.jpg")
    arr = np.random.default_rng(1).random((5, 7)).astype(np.float32) * 40.0
    np.save(tmp_path / "d.npy", arr[..., None])
    np.testing.assert_array_equal(read_depth(tmp_path / "d.npy"), arr)
    np.save(tmp_path / "bad.npy", np.zeros((2, 3, 4)))
    with pytest.raises(UserError, match=r"bad\.npy"):
        read_depth(tmp_path / "bad.npy")
    ref = cv2.imread(str(files["gray16"]), cv2.IMREAD_UNCHANGED).astype(np.float32)
    np.testing.assert_array_equal(read_depth(files["gray16"]), ref)  # raw 16-bit values
