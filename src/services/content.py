"""What is inside an upload: JSON record counts and image sizes with a thumbnail.

JSON is streamed (ijson), never loaded whole, so memory stays flat whatever the size; objects
over MAX_JSON_BYTES are not read at all (the time a count would take is the limit, not memory).
Images are read into memory up to MAX_IMAGE_BYTES and decoded with Pillow, which is imported
only here, on the image path. Bad content is a result (`invalid`, with the reason), never an
exception: retrying cannot fix it.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Any, BinaryIO

from src.models.objects import IMAGE_TYPES, ProcessingStatus

MAX_JSON_BYTES = 512 * 1024 * 1024
MAX_IMAGE_BYTES = 50 * 1024 * 1024
# Decompression-bomb guard, whatever the memory: no image over 40 megapixels is decoded.
MAX_IMAGE_PIXELS = 40_000_000
# What a function holds besides an image being processed: the interpreter, its modules and
# clients, and room to answer (its resting peak is about 60 MB).
RESERVED_MEMORY = 128 * 2**20
# Copies of its decoded pixels that processing an image holds at its peak beyond the image
# itself, measured per format (docs/decisions.md, "Images are refused before they are decoded
# past the memory"): a thumbnail of an image with alpha is made from a premultiplied copy; the
# WebP decoder holds buffers of its own.
EXTRA_COPIES = {"WEBP": 3}
ALPHA_COPIES = 1
THUMBNAIL_SIDE = 256
JSON_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    content_type: str
    extension: str


@dataclass(frozen=True)
class Analysis:
    status: ProcessingStatus
    reason: str | None = None
    record_count: int | None = None
    width: int | None = None
    height: int | None = None
    thumbnail: Thumbnail | None = None


def image_memory(memory_size_mb: int) -> int:
    """The bytes a function of `memory_size_mb` (its MemorySize) can give to one image."""
    return max(0, memory_size_mb * 2**20 - RESERVED_MEMORY)


def prime() -> None:
    """Dummy work for SnapStart's init: both decoders imported and run once on tiny inputs."""
    from PIL import Image  # noqa: PLC0415 - the image path only

    count_json_records(io.BytesIO(b"[1]"))
    sample = io.BytesIO()
    Image.new("RGB", (2, 2)).save(sample, format="PNG")
    analyse_image(sample.getvalue(), "image/png", memory=2**20)


def processing_bytes(image_format: str, mode: str, size: tuple[int, int]) -> int:
    """The memory decoding and thumbnailing an image takes at its peak: its pixels as Pillow
    stores them (one byte each for 1, L and P, two for the 16-bit modes, four for every other
    mode), times the copies processing holds."""
    if mode in ("1", "L", "P"):
        pixel = 1
    elif mode.startswith("I;16"):
        pixel = 2
    else:
        pixel = 4
    copies = 1 + EXTRA_COPIES.get(image_format, 0)
    if "A" in mode or "a" in mode:
        copies += ALPHA_COPIES
    return size[0] * size[1] * pixel * copies


def count_json_records(stream: BinaryIO) -> Analysis:
    """recordCount: the length of a top-level array, 1 for any other JSON value."""
    import ijson  # noqa: PLC0415 - only the JSON path pays for it

    depth = 0
    count = 0
    top_level_array = False
    try:
        for event, _ in ijson.basic_parse(stream, buf_size=JSON_CHUNK):
            if depth == 0:
                top_level_array = event == "start_array"
                count = 0 if top_level_array else 1
            elif depth == 1 and top_level_array and event not in ("end_array", "end_map"):
                count += 1
            if event in ("start_array", "start_map"):
                depth += 1
            elif event in ("end_array", "end_map"):
                depth -= 1
    except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as exc:
        return Analysis(ProcessingStatus.INVALID, reason=f"not valid JSON: {_first_line(exc)}")
    if depth != 0 or (count == 0 and not top_level_array):
        return Analysis(ProcessingStatus.INVALID, reason="not valid JSON: empty or truncated")
    return Analysis(ProcessingStatus.PROCESSED, record_count=count)


def analyse_image(data: bytes, content_type: str, *, memory: int) -> Analysis:
    """Width, height and a thumbnail (longest side THUMBNAIL_SIDE, aspect kept) of an image
    that must be what `content_type` claims, refused before it is decoded when its processing
    would take more than `memory` bytes besides `data` (image_memory)."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415 - the image path only

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    claimed = IMAGE_TYPES[content_type]
    if not data:
        return Analysis(ProcessingStatus.INVALID, reason=f"not a valid {claimed} image: empty")
    try:
        with warnings.catch_warnings():
            # Over MAX_IMAGE_PIXELS Pillow only warns (it raises over twice that): refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                refusal = _refusal(image, claimed, memory - len(data))
                if refusal is not None:
                    return refusal
                width, height = image.size
                thumbnail = _thumbnail(image)
    except UnidentifiedImageError:
        return Analysis(
            ProcessingStatus.INVALID,
            reason=f"not a valid {claimed} image: not an image format that can be read",
        )
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return Analysis(
            ProcessingStatus.INVALID,
            reason=f"not a valid {claimed} image: over {MAX_IMAGE_PIXELS:,} pixels"
            " (a decompression bomb)",
        )
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return Analysis(
            ProcessingStatus.INVALID, reason=f"not a valid {claimed} image: {_readable(exc)}"
        )
    return Analysis(ProcessingStatus.PROCESSED, width=width, height=height, thumbnail=thumbnail)


def _refusal(image: Any, claimed: str, available: int) -> Analysis | None:
    """The refusal of an image that is not what its content type claims, or whose processing
    would not fit `available` bytes; None for one to process."""
    if image.format != claimed:
        found = image.format or "unknown"
        return Analysis(
            ProcessingStatus.INVALID, reason=f"content is {found}, not {claimed} as claimed"
        )
    needed = processing_bytes(image.format, image.mode, image.size)
    if needed <= available:
        return None
    width, height = image.size
    return Analysis(
        ProcessingStatus.INVALID,
        reason=f"too large to process: a {width}x{height} {image.mode} {claimed} image takes "
        f"{needed / 2**20:.0f} MiB to decode and thumbnail; this function has "
        f"{max(0, available) / 2**20:.0f} MiB for one image",
    )


def _thumbnail(image: Any) -> Thumbnail:
    image.seek(0)  # the first frame of an animation
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image.convert("RGBA").save(buffer, format="PNG", optimize=True)
        return Thumbnail(buffer.getvalue(), "image/png", "png")
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return Thumbnail(buffer.getvalue(), "image/jpeg", "jpg")


def _readable(exc: Exception) -> str:
    """The decoder's complaint for a person: its first line, without Python object reprs."""
    text = re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>", "", _first_line(exc)).strip()
    return text or "the data is damaged"


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
