"""Turning uploaded or fetched bytes into an image fit for email: checked, cleaned, resized.

The type is decided by the bytes (Pillow's decoders), never by a file name or a declared
Content-Type. The dimensions are read from the header before any pixel is decoded, so a small
file declaring a huge canvas (a decompression bomb) is refused without being decoded.

What comes out:
- JPEG stays JPEG (quality 82, progressive); PNG stays PNG (optimised).
- WebP becomes JPEG, or PNG when it has transparency: Outlook on Windows shows no WebP.
- GIF becomes PNG. An animated GIF (or WebP) keeps its first frame only: Outlook on Windows
  shows only that frame anyway, and resizing and cleaning every frame would multiply the size.
- EXIF orientation is applied to the pixels, then every piece of metadata (EXIF, GPS, XMP,
  comments, text chunks) is dropped; an embedded colour profile is converted to sRGB first.
- At most ``MAX_WIDTH`` px wide: 2x the 600 px of an email column, sharp on high-density screens.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from newsletter.errors import InvalidInput

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_SIDE = 8000  # px, either side, checked before decoding
MAX_WIDTH = 1200  # px, of the stored image
JPEG_QUALITY = 82
ORIENTATION = 0x0112  # the EXIF tag
ACCEPTED = ("JPEG", "PNG", "GIF", "WEBP")  # Pillow's format names
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}
CONTENT_TYPES = {ext: content_type for content_type, ext in EXTENSIONS.items()}


class ImageRejected(InvalidInput):
    """Bytes that are not an image we can use; the message says why, in the editor's words."""

    field = "image"


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    content_type: str  # image/jpeg or image/png
    width: int
    height: int

    @property
    def ext(self) -> str:
        return EXTENSIONS[self.content_type]


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _open(data: bytes) -> Image.Image:
    if not data:
        raise ImageRejected("not an image we can use: the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRejected(f"the image is {_megabytes(len(data))}; the limit is {_megabytes(MAX_UPLOAD_BYTES)}")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb warning starts above our limits; the sides are checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED)  # reads the header only
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"the image is far too large; the limit is {MAX_SIDE} x {MAX_SIDE} px") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected("not an image we can use: only JPEG, PNG, GIF and WebP images are accepted") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # a header Pillow cannot read
        raise ImageRejected(f"not an image we can use: the file is damaged ({exc})") from exc
    width, height = image.size
    if width > MAX_SIDE:
        raise ImageRejected(f"the image is {width} px wide; the limit is {MAX_SIDE}")
    if height > MAX_SIDE:
        raise ImageRejected(f"the image is {height} px high; the limit is {MAX_SIDE}")
    if width < 1 or height < 1:
        raise ImageRejected("not an image we can use: it has no pixels")
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Pixels in sRGB: once the profile is dropped, mail clients read them as sRGB anyway."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, target, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile: keep the pixels as they are
    return converted if converted is not None else image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def process(data: bytes) -> ProcessedImage:
    """Check, clean and re-encode one image; ImageRejected says what is wrong with it."""
    image = _open(data)
    source_format = image.format
    try:
        image.seek(0)  # the first frame of an animation
        turned = image.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8)  # width and height swap when applied
        width_out = image.height if turned else image.width
        if source_format == "JPEG" and width_out > MAX_WIDTH:  # decode at a smaller scale, still >= the target
            scale = MAX_WIDTH / width_out
            image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
        image.load()
        image = ImageOps.exif_transpose(image) or image
        image = _to_srgb(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"not an image we can use: the file is damaged ({exc})") from exc
    as_jpeg = source_format == "JPEG" or (source_format == "WEBP" and not _has_alpha(image))
    if as_jpeg:
        image = image.convert("RGB") if image.mode not in ("RGB", "L") else image
    elif image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    if image.width > MAX_WIDTH:
        if image.mode in ("1", "P"):  # resampling needs real colours, not palette indexes
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        height = max(1, round(image.height * MAX_WIDTH / image.width))
        image = image.resize((MAX_WIDTH, height), Image.Resampling.LANCZOS)
    transparency = image.info.get("transparency") if image.mode in ("P", "L", "RGB") else None
    image.info = {}  # nothing of the original's metadata goes out (EXIF, GPS, XMP, comments, text)
    out = io.BytesIO()
    if as_jpeg:
        image.save(out, "JPEG", quality=JPEG_QUALITY, progressive=True, optimize=True)
        content_type = "image/jpeg"
    else:
        extra = {"transparency": transparency} if transparency is not None else {}
        image.save(out, "PNG", optimize=True, **extra)
        content_type = "image/png"
    return ProcessedImage(out.getvalue(), content_type, image.width, image.height)


def dimensions(data: bytes) -> tuple[int, int]:
    """Width and height of stored image bytes, from the header only."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size
