"""Image bytes: verify them, make thumbnails, name their formats. A leaf: Pillow only.

Every image the playground accepts (a gateway's result, an upload, a pasted data URL, a painted
mask) passes `verify_image` before it is stored or sent anywhere.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

# The formats we store and send, with their file extensions and content types.
ACCEPTED_FORMATS = frozenset({"PNG", "JPEG", "WEBP"})
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
FORMAT_LABELS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "GIF": "GIF"}
THUMBNAIL_EDGE = 512


class ImageRejected(ValueError):
    """The bytes are not an image we accept; the message says why in plain words."""


def extension(image_format: str) -> str:
    return EXTENSIONS.get(image_format, "bin")


def content_type(image_format: str) -> str:
    return CONTENT_TYPES.get(image_format, "application/octet-stream")


def verify_image(
    data: bytes, *, max_pixels: int, allowed_formats: frozenset[str] = ACCEPTED_FORMATS
) -> tuple[str, int, int]:
    """Return (format, width, height) of `data` if it is a sound image we accept."""
    wanted = format_names(allowed_formats)
    if not data:
        raise ImageRejected(f"the response was empty, not a {wanted} image")
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own limit; any bomb warning is a refusal here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _open_and_verify(data, max_pixels, allowed_formats)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"the image is too large to decode: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(f"not a {wanted} image") from exc
    except Exception as exc:  # Pillow raises many types for damaged files
        raise ImageRejected(f"the image is damaged: {exc}") from exc


def _open_and_verify(
    data: bytes, max_pixels: int, allowed_formats: frozenset[str]
) -> tuple[str, int, int]:
    # `formats` keeps every other Pillow decoder (and its attack surface) out of the way.
    with Image.open(io.BytesIO(data), formats=sorted(allowed_formats)) as image:
        image_format = image.format or ""
        width, height = image.size
        if image_format not in allowed_formats:
            raise ImageRejected(f"not a {format_names(allowed_formats)} image")
        # The size comes from the header; nothing has been decoded yet.
        if width * height > max_pixels:
            raise ImageRejected(
                f"the image is {width}x{height} pixels; at most {max_pixels} pixels are allowed"
            )
        image.verify()
    return image_format, width, height


def format_names(formats: frozenset[str]) -> str:
    # Familiar order first (PNG/JPEG/WebP), anything else after it.
    order = list(FORMAT_LABELS)
    ranked = sorted(formats, key=lambda name: (order.index(name) if name in order else 99, name))
    return "/".join(FORMAT_LABELS.get(name, name) for name in ranked)


def has_transparency(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def make_thumbnail(data: bytes) -> bytes:
    """A WebP at most THUMBNAIL_EDGE pixels on its longer side, transparency kept."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (THUMBNAIL_EDGE, THUMBNAIL_EDGE))
        has_alpha = img.mode in ("RGBA", "LA") or "transparency" in img.info
        if img.mode in ("RGB", "RGBA", "L", "LA"):
            # Shrink first: converting a 4096x4096 image first would hold a second full-size copy
            # (measured: 135 -> 70 MiB at 4096x4096, BENCHMARKS.md figure 4).
            img.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
        converted = img.convert("RGBA" if has_alpha else "RGB")
        converted.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
        out = io.BytesIO()
        converted.save(out, "WEBP", quality=80, method=4)
        return out.getvalue()


def mask_size_problem(
    mask: tuple[int, int], image: tuple[int, int], *, sep: str = "×"
) -> str | None:
    """Why a mask cannot apply to an image, or None: both must have the same size."""
    if mask == image:
        return None
    (mw, mh), (iw, ih) = mask, image
    return (
        f"The mask is {mw}{sep}{mh} pixels but the first reference is {iw}{sep}{ih}; "
        "a mask must have the same size as the image it applies to."
    )
