"""Checking and cleaning images: by content, within limits, metadata gone, turned, resized."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from newsletter.errors import InvalidInput
from newsletter.media.images import MAX_WIDTH, process
from tests.media.images import GPS_IFD, jpeg, png, png_bomb


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_a_phone_photo_loses_its_gps_and_metadata_and_is_resized() -> None:
    result = process(jpeg(3000, 2000, gps=True))
    image = opened(result.data)
    assert result.content_type == "image/jpeg" and image.format == "JPEG"
    assert (result.width, result.height) == image.size == (MAX_WIDTH, 800)
    assert not image.getexif() and not image.getexif().get_ifd(GPS_IFD)
    assert b"PhoneMaker" not in result.data and b"taken at home" not in result.data
    assert image.info.get("progressive") == 1


def test_the_exif_turn_is_applied_to_the_pixels() -> None:
    result = process(jpeg(300, 200, orientation=6))  # "rotate 90° clockwise to display"
    assert (result.width, result.height) == (200, 300)


def test_a_small_png_keeps_its_size_and_transparency() -> None:
    result = process(png(40, 30))
    image = opened(result.data)
    assert result.content_type == "image/png" and image.size == (40, 30) and image.mode == "RGBA"


def test_webp_becomes_jpeg_and_an_animated_gif_its_first_frame() -> None:
    out = io.BytesIO()
    Image.new("RGB", (50, 20), (0, 200, 0)).save(out, "WEBP")
    assert process(out.getvalue()).content_type == "image/jpeg"
    gif = io.BytesIO()
    frames = [Image.new("P", (30, 10), i) for i in (1, 2, 3)]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = process(gif.getvalue())
    assert result.content_type == "image/png" and opened(result.data).size == (30, 10)
    assert getattr(opened(result.data), "n_frames", 1) == 1


@pytest.mark.parametrize("data, message", [
    (b"%PDF-1.4 just some text, named photo.jpg", "not an image we can use: only JPEG, PNG, GIF and WebP"),
    (b"", "not an image we can use: the file is empty"),
    (png(9000, 10, mode="RGB"), "the image is 9000 px wide; the limit is 8000"),
    (png(10, 8001, mode="RGB"), "the image is 8001 px high; the limit is 8000"),
    (png_bomb(), "the limit is 8000 x 8000 px"),
    (png_bomb(12_000), "the image is 12000 px wide; the limit is 8000"),
    (b"\xff\xd8\xff\xe0" + b"\0" * 50, "not an image we can use"),
])
def test_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        process(data)


def test_over_ten_megabytes_is_refused_before_decoding() -> None:
    with pytest.raises(InvalidInput, match="the limit is 10.0 MB"):
        process(b"\x89PNG" + b"\0" * (10 * 1024 * 1024))


def test_the_same_image_gives_the_same_bytes() -> None:
    assert process(jpeg(2000, 1000)).data == process(jpeg(2000, 1000)).data
