"""Upload content: JSON record counts in bounded memory, image sizes and real thumbnails, and bad
content recorded with a reason."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator

import pytest
from PIL import Image

from src.models.objects import ProcessingStatus
from src.services.content import (
    MAX_IMAGE_PIXELS,
    THUMBNAIL_SIDE,
    analyse_image,
    count_json_records,
)
from tests.conftest import IMAGE_MEMORY


def image_bytes(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=(200, 30, 60) if mode == "RGB" else None).save(buffer, format=fmt)
    return buffer.getvalue()


class TestJson:
    @pytest.mark.parametrize(
        ("document", "count"),
        [
            ([], 0),
            ([1, 2, 3], 3),
            ([{"a": [1, 2, {"b": []}]}, [], "x", None], 4),
            ({"records": [1, 2, 3]}, 1),
            ("just a string", 1),
            (42, 1),
        ],
    )
    def test_counts_top_level_records(self, document: object, count: int) -> None:
        analysis = count_json_records(io.BytesIO(json.dumps(document).encode()))

        assert analysis.status is ProcessingStatus.PROCESSED
        assert analysis.record_count == count

    @pytest.mark.parametrize(
        "raw", [b"", b"[1, 2", b"{'a': 1}", b"[1] [2]", b"\xff\xfe", b"[1,]", b"nul"]
    )
    def test_invalid_json_is_recorded_with_a_reason(self, raw: bytes) -> None:
        analysis = count_json_records(io.BytesIO(raw))

        assert analysis.status is ProcessingStatus.INVALID
        assert analysis.reason
        assert analysis.reason.startswith("not valid JSON: ")
        assert "b'" not in analysis.reason
        assert "\\x" not in analysis.reason

    def test_the_parsers_complaint_is_given_as_text(self) -> None:
        analysis = count_json_records(io.BytesIO(b"{'a': 1}"))

        assert analysis.reason == "not valid JSON: lexical error: invalid char in json text."

    @pytest.mark.parametrize(
        "encoding",
        ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"],
    )
    def test_every_encoding_json_allows_is_counted(self, encoding: str) -> None:
        document = json.dumps([{"name": "Zoë"}, "東京", 3], ensure_ascii=False)

        analysis = count_json_records(io.BytesIO(document.encode(encoding)))

        assert (analysis.status, analysis.record_count) == (ProcessingStatus.PROCESSED, 3)

    def test_text_that_is_no_unicode_is_refused_in_words(self) -> None:
        analysis = count_json_records(io.BytesIO(b'["caf\xe9"]'))

        assert analysis.status is ProcessingStatus.INVALID
        assert analysis.reason == "not valid JSON: not UTF-8, UTF-16 or UTF-32 text"

    @pytest.mark.parametrize(
        "raw",
        [
            b"[" + b"9" * 5000 + b"]",
            b"[1, 2, " + b"1" * 100_000 + b"]",
            b"[9223372036854775808]",
            b"[1e999999999]",
            b'{"total": -' + b"7" * 10_000 + b".5}",
        ],
    )
    def test_a_number_beyond_64_bits_or_a_double_is_not_counted_with_the_reason(
        self, raw: bytes
    ) -> None:
        analysis = count_json_records(io.BytesIO(raw))

        assert analysis.status is ProcessingStatus.SKIPPED
        assert analysis.reason == (
            "JSON with a number beyond a 64-bit integer or a double: records not counted"
        )

    def test_numbers_within_64_bits_and_doubles_are_counted(self) -> None:
        raw = b"[9223372036854775807, -9223372036854775807, 1.7976931348623157e308, 5e-324, 0]"

        analysis = count_json_records(io.BytesIO(raw))

        assert (analysis.status, analysis.record_count) == (ProcessingStatus.PROCESSED, 5)

    def test_long_numbers_parsed_many_times_in_one_process_leave_it_running(self) -> None:
        # ijson's C parser, reading Python integers, failed past their 4,300 digits with an
        # exception set inside its reader, and a later parse in the process crashed it.
        script = (
            "import io\n"
            "from src.services.content import count_json_records\n"
            "for _ in range(20):\n"
            "    count_json_records(io.BytesIO(b'[' + b'9' * 5000 + b']'))\n"
            "print(count_json_records(io.BytesIO(b'[1, 2]')).record_count)\n"
        )
        run = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
        )

        assert (run.returncode, run.stdout) == (0, "2\n"), run.stderr

    def test_memory_stays_flat_on_a_large_document(self) -> None:
        # About 30 MB of JSON made on demand: the document never exists whole, here either.
        block = b",".join(json.dumps({"id": i, "payload": "x" * 48}).encode() for i in range(1000))
        blocks = 400

        def pieces() -> Iterator[bytes]:
            yield b"[" + block
            for _ in range(blocks - 1):
                yield b"," + block
            yield b"]"

        tracemalloc.start()
        analysis = count_json_records(ChunkStream(pieces()))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        assert analysis.record_count == 1000 * blocks
        assert peak < 5 * 1024 * 1024, peak


class ChunkStream(io.RawIOBase):
    """A readable stream over an iterator of byte strings."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._current = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._current:
            self._current = memoryview(next(self._chunks, b""))
        size = min(len(buffer), len(self._current))
        buffer[:size] = self._current[:size]
        self._current = self._current[size:]
        return size


def _noise_png() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).save(buffer, format="PNG")
    return buffer.getvalue()


# Noise does not compress: the image data is most of the file, so half of it cuts the pixels.
NOISE_PNG = _noise_png()


class TestImages:
    @pytest.mark.parametrize(
        ("content_type", "fmt"),
        [
            ("image/png", "PNG"),
            ("image/jpeg", "JPEG"),
            ("image/webp", "WEBP"),
            ("image/gif", "GIF"),
        ],
    )
    def test_size_and_a_real_thumbnail_with_the_aspect_kept(
        self, content_type: str, fmt: str
    ) -> None:
        analysis = analyse_image(image_bytes((1200, 600), fmt), content_type, memory=IMAGE_MEMORY)

        assert analysis.status is ProcessingStatus.PROCESSED
        assert (analysis.width, analysis.height) == (1200, 600)
        assert analysis.thumbnail is not None
        with Image.open(io.BytesIO(analysis.thumbnail.data)) as thumbnail:
            assert thumbnail.size == (THUMBNAIL_SIDE, THUMBNAIL_SIDE // 2)
            assert thumbnail.format == ("PNG" if analysis.thumbnail.extension == "png" else "JPEG")

    def test_small_images_are_not_enlarged_and_transparency_is_kept(self) -> None:
        analysis = analyse_image(
            image_bytes((40, 100), "PNG", mode="RGBA"), "image/png", memory=IMAGE_MEMORY
        )

        assert analysis.thumbnail is not None
        assert analysis.thumbnail.content_type == "image/png"
        with Image.open(io.BytesIO(analysis.thumbnail.data)) as thumbnail:
            assert thumbnail.size == (40, 100)
            assert thumbnail.mode == "RGBA"

    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (b"", "not a valid PNG image: empty"),
            (
                b"definitely not an image",
                "not a valid PNG image: not an image format that can be read",
            ),
            (NOISE_PNG[: len(NOISE_PNG) // 2], "not a valid PNG image: image file is truncated"),
        ],
        ids=["empty", "not an image", "truncated"],
    )
    def test_the_reason_is_for_a_person(self, data: bytes, reason: str) -> None:
        analysis = analyse_image(data, "image/png", memory=IMAGE_MEMORY)

        assert (analysis.status, analysis.reason) == (ProcessingStatus.INVALID, reason)

    @pytest.mark.parametrize(
        ("data", "content_type", "reason"),
        [
            (b"definitely not an image", "image/png", "not a valid PNG image"),
            (image_bytes((10, 10), "PNG")[:40], "image/png", "not a valid PNG image"),
            (image_bytes((10, 10), "JPEG"), "image/png", "content is JPEG, not PNG"),
            (b"GIF89a" + b"\x00" * 10, "image/gif", "not a valid GIF image"),
        ],
    )
    def test_bytes_that_are_not_the_claimed_image_are_invalid(
        self, data: bytes, content_type: str, reason: str
    ) -> None:
        analysis = analyse_image(data, content_type, memory=IMAGE_MEMORY)

        assert analysis.status is ProcessingStatus.INVALID
        assert analysis.reason is not None
        assert reason in analysis.reason
        assert analysis.thumbnail is None

    def test_a_decompression_bomb_is_refused_without_decoding_it(self) -> None:
        side = int(MAX_IMAGE_PIXELS**0.5) + 100  # just over the limit, tiny when compressed
        bomb = image_bytes((side, side), "PNG", mode="1")

        tracemalloc.start()
        analysis = analyse_image(bomb, "image/png", memory=IMAGE_MEMORY)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        assert len(bomb) < 2_000_000
        assert analysis.status is ProcessingStatus.INVALID
        assert analysis.reason is not None
        assert "decompression bomb" in analysis.reason.lower()
        assert peak < 20 * 1024 * 1024
