"""Real, cheap images for the fake gateway, and the small decoding helpers its edits need."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFont

FORMATS = ("png", "jpeg", "webp")
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}

# The gradient and card are drawn this small and scaled up: a 4K render then costs one resize.
_SKETCH_EDGE = 128
_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<data>.*)$", re.S)


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str | None  # "png", "jpeg", "webp" or Pillow's name for anything else

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


class _ByteLRU:
    """An LRU bounded by the bytes it holds: one 4K PNG weighs as much as a hundred thumbnails."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # renders run in worker threads

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple, value: bytes) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._size += len(value) - (len(old) if old else 0)
            self._items[key] = value
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


render_cache = _ByteLRU(max_bytes=96 * 1024 * 1024)


def render(
    prompt: str,
    index: int,
    width: int,
    height: int,
    fmt: str = "png",
    *,
    transparent: bool = False,
    compression: int | None = None,
) -> bytes:
    """Encoded image bytes, exactly width x height, distinct per prompt and index; memoised."""
    if fmt not in FORMATS:
        raise ValueError(f"unsupported format {fmt!r}")
    key = (prompt, index, width, height, fmt, transparent, compression)
    cached = render_cache.get(key)
    if cached is not None:
        return cached
    data = _encode(_draw(prompt, index, width, height, transparent), fmt, compression)
    render_cache.put(key, data)
    return data


async def render_async(*args, **kwargs) -> bytes:
    # Resizing and encoding a large image takes tens of milliseconds: keep the event loop free.
    return await asyncio.to_thread(render, *args, **kwargs)


def _draw(prompt: str, index: int, width: int, height: int, transparent: bool) -> Image.Image:
    digest = hashlib.sha256(f"{prompt}\0{index}".encode()).digest()
    first, second, accent = tuple(digest[0:3]), tuple(digest[3:6]), tuple(digest[6:9])
    scale = min(1.0, _SKETCH_EDGE / max(width, height))
    small = (max(1, round(width * scale)), max(1, round(height * scale)))

    mask = _gradient(digest[9] % 3).resize(small)
    sketch = Image.composite(Image.new("RGB", small, first), Image.new("RGB", small, second), mask)
    image = sketch.resize((width, height), Image.Resampling.BILINEAR)

    draw = ImageDraw.Draw(image)
    edge = min(width, height)
    cx = width * (0.25 + 0.5 * digest[10] / 255)
    cy = height * (0.25 + 0.5 * digest[11] / 255)
    radius = edge * (0.12 + 0.1 * digest[12] / 255)
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=accent)
    _draw_label(draw, prompt, index, width, height)

    if transparent:
        image.putalpha(_card_alpha(width, height))
    return image


def _gradient(direction: int) -> Image.Image:
    vertical = Image.linear_gradient("L")
    if direction == 0:
        return vertical
    horizontal = vertical.transpose(Image.Transpose.ROTATE_90)
    if direction == 1:
        return horizontal
    return ImageChops.add(vertical, horizontal, scale=2.0)


def _draw_label(
    draw: ImageDraw.ImageDraw, prompt: str, index: int, width: int, height: int
) -> None:
    edge = min(width, height)
    big = _font(max(8, edge // 4))
    small = _font(max(6, edge // 16))
    margin = max(2, edge // 12)  # inside the transparent variant's card
    draw.text(
        (margin, margin),
        f"#{index + 1}",
        font=big,
        fill="white",
        stroke_width=max(1, edge // 128),
        stroke_fill="black",
    )
    words = " ".join(prompt.split()[:6])
    if words:
        draw.text(
            (margin, height - margin),
            words[:60],
            font=small,
            fill="white",
            anchor="ld",
            stroke_width=max(1, edge // 256),
            stroke_fill="black",
        )


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ImportError):  # Pillow built without FreeType: a fixed-size bitmap font
        return ImageFont.load_default()


def _card_alpha(width: int, height: int) -> Image.Image:
    # An opaque rounded card on a fully transparent margin: "transparent" is visible and testable.
    alpha = Image.new("L", (width, height), 0)
    inset = max(1, min(width, height) // 20)
    box = (inset, inset, width - inset - 1, height - inset - 1)
    ImageDraw.Draw(alpha).rounded_rectangle(box, radius=inset * 2, fill=255)
    return alpha


def _encode(image: Image.Image, fmt: str, compression: int | None) -> bytes:
    out = io.BytesIO()
    # OpenAI's output_compression runs 0-100 with 100 the default; treat it as the encoder quality.
    quality = 95 if compression is None else min(95, max(1, compression))
    if fmt == "png":
        image.save(out, format="PNG", compress_level=1)
    elif fmt == "jpeg":
        image.convert("RGB").save(out, format="JPEG", quality=quality)
    else:
        image.save(out, format="WEBP", quality=quality, method=0)
    return out.getvalue()


def image_info(data: bytes) -> ImageInfo | None:
    """Size and format read from the header only; None when Pillow cannot read it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            name = image.format or ""
            return ImageInfo(image.width, image.height, PIL_FORMATS.get(name, name.lower() or None))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def decode_data_url(url: str) -> tuple[str, bytes] | None:
    """(mime type, bytes) of a base64 `data:` URL, or None if it is not a valid one."""
    match = _DATA_URL.match(url)
    if not match or ";base64" not in match["params"].lower():
        return None
    try:
        data = base64.b64decode(match["data"].strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return match["mime"] or "application/octet-stream", data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def padded_b64(data: bytes, megabytes: float) -> str:
    """Valid base64 of about `megabytes` MB whose decoded bytes start with `data`.

    Image decoders stop at the image's end marker, so the padding keeps it a real image that is
    simply very large on the wire.
    """
    target = int(megabytes * 1024 * 1024 * 3 / 4)
    return b64(data + b"\0" * max(0, target - len(data)))
