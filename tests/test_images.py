"""Image loading: every mode people upload becomes H x W x 3 uint8 RGB, bad files give clear errors."""
import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from seglab import InvalidImageError, load_image
from seglab.images import MAX_PIXELS, image_hash


def _png(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_real_jpeg_from_path_bytes_pil_and_array(coco_image_path):
    a = load_image(coco_image_path)
    assert a.shape == (427, 640, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(load_image(coco_image_path.read_bytes()), a)
    np.testing.assert_array_equal(load_image(Image.open(coco_image_path)), a)
    np.testing.assert_array_equal(load_image(a), a)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "I;16", "1"])
def test_modes_convert_to_rgb(mode):
    base = Image.new("RGB", (8, 6), (200, 100, 50))
    img = base.convert(mode) if mode != "I;16" else Image.fromarray(np.full((6, 8), 40000, np.uint16))
    out = load_image(_png(img, "TIFF" if mode == "CMYK" else "PNG"))
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8


def test_sixteen_bit_is_scaled_not_clipped():
    out = load_image(Image.fromarray(np.full((4, 4), 65535, np.uint16)))
    assert out.max() == 255 and out.min() == 255
    assert load_image(np.full((4, 4), 32768, np.uint16)).max() == 128


def test_alpha_is_composited_on_white():
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert (load_image(_png(img)) == 255).all()


def test_exif_orientation_is_honoured():
    img = Image.new("RGB", (30, 10), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    out = load_image(_png(img, "JPEG", exif=exif))
    assert out.shape == (30, 10, 3)


@pytest.mark.parametrize("data,msg", [
    (b"", "empty"),
    (b"not an image at all", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "not an image|corrupt"),
])
def test_bad_bytes_give_clear_errors(data, msg):
    with pytest.raises(InvalidImageError, match=msg):
        load_image(data)


def test_truncated_jpeg(coco_image_path):
    data = coco_image_path.read_bytes()
    with pytest.raises(InvalidImageError, match="corrupt or truncated"):
        load_image(data[: len(data) // 2])


def test_missing_file_and_wrong_type(tmp_path):
    with pytest.raises(InvalidImageError, match="no image file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InvalidImageError, match="cannot read"):
        load_image(3.5)  # type: ignore[arg-type]


def test_tiny_and_huge_images_are_refused():
    with pytest.raises(InvalidImageError, match="at least"):
        load_image(np.zeros((1, 1, 3), np.uint8))


@pytest.mark.parametrize("side", [int(MAX_PIXELS**0.5) + 10, 14_000])  # over seglab's limit; over Pillow's too
def test_huge_images_get_one_message_before_any_pixel_is_decoded(side, tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("1", (side, side)).save(path)  # a few hundred KB on disk
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("the pixels were decoded"))
    with pytest.raises(InvalidImageError) as err:
        load_image(path)
    assert str(err.value).startswith("huge.png is too large (")
    assert str(err.value).endswith(" Mpx); the limit is 64 Mpx, please downscale it")


def test_decompression_bomb_limit_is_kept(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(InvalidImageError, match="too large"):
        load_image(_png(Image.new("L", (20, 20))))


def test_bad_arrays():
    with pytest.raises(InvalidImageError, match="shape"):
        load_image(np.zeros((4, 4, 5)))
    with pytest.raises(InvalidImageError, match="NaN"):
        load_image(np.full((4, 4), np.nan))
    assert load_image(np.ones((4, 4), np.float32)).max() == 255


def test_image_hash_depends_on_content_and_shape():
    a = np.zeros((4, 6, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 1
    assert image_hash(a) == image_hash(a.copy())
    assert image_hash(a) != image_hash(b)
    assert image_hash(a) != image_hash(a.reshape(6, 4, 3))
