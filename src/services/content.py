"""What is inside an upload: JSON record counts and image sizes with a thumbnail.

JSON is streamed (ijson), never loaded whole, so memory stays flat whatever the size; objects
over MAX_JSON_BYTES are not read at all (the time a count would take is the limit, not memory).
Images are read into memory up to MAX_IMAGE_BYTES and decoded with Pillow, which is imported
only here, on the image path. Bad content is a result (`invalid`, with the reason), never an
exception: retrying cannot fix it.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from src.models.objects import IMAGE_TYPES, ProcessingStatus

MAX_JSON_BYTES = 512 * 1024 * 1024
MAX_IMAGE_BYTES = 50 * 1024 * 1024
# Decompression-bomb guard, whatever the memory: no image over 40 megapixels is decoded.
MAX_IMAGE_PIXELS = 40_000_000
# What a function holds besides an image being processed: the interpreter, its modules and
# clients, and room to answer (docs/uploads.md gives the peaks measured).
RESERVED_MEMORY = 128 * 2**20
# Copies of its decoded pixels that processing an image holds at its peak beyond the image
# itself, measured per format (docs/decisions.md, "Images are refused before they are decoded
# past the memory"): a thumbnail of an image with alpha is made from a premultiplied copy; the
# WebP decoder holds buffers of its own.
EXTRA_COPIES = {"WEBP": 3}
ALPHA_COPIES = 1
# A greyscale image of more than 8 bits is reduced from a 32-bit copy.
GREY_COPY_BYTES = 4
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
    extra = GREY_COPY_BYTES if _wide_grey(mode) else 0
    return size[0] * size[1] * (pixel * copies + extra)


def _wide_grey(mode: str) -> bool:
    """A greyscale mode of more than 8 bits, which thumbnails are not made from directly."""
    return mode in ("I", "F") or mode.startswith("I;16")


class Utf8Stream:
    """A stream of JSON text in any encoding JSON allows (UTF-8, UTF-16 or UTF-32, with or
    without a byte order mark, told apart by its first bytes as RFC 4627 does), read as UTF-8;
    text that does not decode raises UnicodeDecodeError as it is read."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        head = stream.read(4)
        self._decoder = codecs.getincrementaldecoder(json.detect_encoding(head))("strict")
        self._pending = self._decoder.decode(head).encode()
        self._ended = not head

    def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or len(self._pending) < size):
            chunk = self._stream.read(JSON_CHUNK)
            self._ended = not chunk
            self._pending += self._decoder.decode(chunk, final=self._ended).encode()
        if size < 0:
            size = len(self._pending)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data


def count_json_records(stream: BinaryIO) -> Analysis:
    """recordCount: the length of a top-level array, 1 for any other JSON value. Numbers are
    read as 64-bit integers and doubles: a file with one beyond them is not counted (ijson's C
    parser fails with Python's own integers past their digit limit, and the process with it)."""
    import ijson  # noqa: PLC0415 - only the JSON path pays for it

    try:
        count, complete = _records(
            ijson.basic_parse(Utf8Stream(stream), buf_size=JSON_CHUNK, use_float=True)
        )
    except UnicodeDecodeError:
        return Analysis(
            ProcessingStatus.INVALID, reason="not valid JSON: not UTF-8, UTF-16 or UTF-32 text"
        )
    except (ijson.JSONError, ijson.IncompleteJSONError) as exc:
        if "overflow" in _first_line(exc):
            return Analysis(
                ProcessingStatus.SKIPPED,
                reason="JSON with a number beyond a 64-bit integer or a double: records not "
                "counted",
            )
        return Analysis(ProcessingStatus.INVALID, reason=f"not valid JSON: {_readable(exc)}")
    if not complete:
        return Analysis(ProcessingStatus.INVALID, reason="not valid JSON: empty or truncated")
    return Analysis(ProcessingStatus.PROCESSED, record_count=count)


def _records(events: Iterable[tuple[str, Any]]) -> tuple[int, bool]:
    """The record count of a JSON document's parse events, and whether it was one whole value."""
    depth = 0
    count = 0
    top_level_array = False
    for event, _ in events:
        if depth == 0:
            top_level_array = event == "start_array"
            count = 0 if top_level_array else 1
        elif depth == 1 and top_level_array and event not in ("end_array", "end_map"):
            count += 1
        if event in ("start_array", "start_map"):
            depth += 1
        elif event in ("end_array", "end_map"):
            depth -= 1
    return count, depth == 0 and (count > 0 or top_level_array)


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
    if _wide_grey(image.mode):
        # Reduced as 32-bit greyscale (Pillow reduces no 16-bit image), then spread to 8 bits.
        wide = image if image.mode in ("I", "F") else image.convert("I")
        wide.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        image = _eight_bit_grey(wide)
    else:
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image.convert("RGBA").save(buffer, format="PNG", optimize=True)
        return Thumbnail(buffer.getvalue(), "image/png", "png")
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return Thumbnail(buffer.getvalue(), "image/jpeg", "jpg")


def _eight_bit_grey(wide: Any) -> Any:
    """A 32-bit greyscale image as 8 bits, its values spread over 0-255 (a plain conversion
    clips every value over 255)."""
    low, high = wide.getextrema()
    scale = 255 / (high - low) if high > low else 0
    return wide.point(lambda value: (value - low) * scale).convert("L")


def _readable(exc: Exception) -> str:
    """The decoder's complaint for a person: its first line, without Python object reprs."""
    text = re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>", "", _first_line(exc)).strip()
    return text or "the data is damaged"


def _first_line(exc: Exception) -> str:
    """The first line of an exception's message (ijson's C parser gives its message as bytes)."""
    message = exc.args[0] if len(exc.args) == 1 else str(exc)
    if isinstance(message, bytes):
        message = message.decode(errors="replace")
    return (str(message).splitlines() or [type(exc).__name__])[0][:200]
