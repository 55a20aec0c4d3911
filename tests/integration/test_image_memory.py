"""The upload processor within its MemorySize: each image is processed as the function does it
(the runtime environment, the handler module imported), in a process of its own whose peak
resident memory is read from the OS. The largest image it accepts, per format and mode, peaks
under docs/uploads.md's figure; images whose processing would not fit are refused, with a reason,
before they are decoded."""

from __future__ import annotations

import io
import json
import math
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from devtools.runtime import ROOT, runtime_python
from src.services.content import MAX_IMAGE_PIXELS, image_memory, processing_bytes
from tests.conftest import S3_MEMORY_SIZE

MEMORY_SIZE = S3_MEMORY_SIZE
# docs/uploads.md's figure: the most an accepted image's processing takes, whole process.
DOCUMENTED_PEAK_MB = 450
CONTENT_TYPES = {"PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp", "JPEG": "image/jpeg"}

PROCESS = """
import json, os, sys
os.environ.update(METADATA_TABLE="metadata", UPLOADS_BUCKET="uploads",
                  AWS_LAMBDA_FUNCTION_MEMORY_SIZE=sys.argv[3], AWS_DEFAULT_REGION="us-east-1")
import src.handlers.s3_handler as function
from src.services import content
data = open(sys.argv[1], "rb").read()
analysis = content.analyse_image(data, sys.argv[2], memory=content.image_memory(int(sys.argv[3])))
peak = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmHWM:"))
print(json.dumps({"status": str(analysis.status), "reason": analysis.reason,
                  "peak_mb": peak // 1024}))
"""


def processed(path: Path, content_type: str) -> dict[str, object]:
    """The analysis of the file and the peak memory (MB) of the process that made it."""
    run = subprocess.run(
        [str(runtime_python()), "-c", PROCESS, str(path), content_type, str(MEMORY_SIZE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(run.stdout.splitlines()[-1])
    return result


def largest_accepted(image_format: str, mode: str) -> tuple[int, int]:
    """The largest square image of this format and mode the processor accepts."""
    budget = image_memory(MEMORY_SIZE) - 2**20  # the file itself, a few hundred KB at most
    per_pixel = processing_bytes(image_format, mode, (1, 1))
    side = math.isqrt(min(MAX_IMAGE_PIXELS, budget // per_pixel))
    return side, side


def saved(tmp_path: Path, image_format: str, mode: str, size: tuple[int, int]) -> Path:
    path = tmp_path / f"image.{image_format.lower()}"
    options = {"lossless": True} if image_format == "WEBP" else {}
    Image.new(mode, size).save(path, format=image_format, **options)
    return path


@pytest.mark.parametrize(
    ("image_format", "mode"),
    [
        ("PNG", "1"),
        ("PNG", "L"),
        ("PNG", "P"),
        ("PNG", "LA"),
        ("PNG", "RGB"),
        ("PNG", "RGBA"),
        ("PNG", "I;16"),
        ("GIF", "P"),
        ("WEBP", "RGB"),
        ("WEBP", "RGBA"),
        ("JPEG", "L"),
        ("JPEG", "RGB"),
        ("JPEG", "CMYK"),
    ],
)
def test_the_largest_image_accepted_is_processed_within_the_memory(
    tmp_path: Path, image_format: str, mode: str
) -> None:
    size = largest_accepted(image_format, mode)
    path = saved(tmp_path, image_format, mode, size)
    with Image.open(path) as image:
        stored_mode = image.mode

    result = processed(path, CONTENT_TYPES[image_format])

    assert result["status"] == "processed", (size, stored_mode, result)
    assert int(str(result["peak_mb"])) <= DOCUMENTED_PEAK_MB < MEMORY_SIZE, (size, result)


def test_a_tiny_webp_that_decodes_past_the_memory_is_refused_before_decoding(
    tmp_path: Path,
) -> None:
    # 6320 x 6320 RGBA: under the 40 MP guard, a few dozen bytes as lossless WebP, 160 MB of
    # pixels and four times that to decode.
    path = saved(tmp_path, "WEBP", "RGBA", (6320, 6320))
    assert path.stat().st_size < 4096

    result = processed(path, "image/webp")

    assert result["status"] == "invalid"
    assert result["reason"] == (
        "too large to process: a 6320x6320 RGBA WEBP image takes 762 MiB to decode and "
        "thumbnail; this function has 384 MiB for one image"
    )
    assert int(str(result["peak_mb"])) < 100


# Every mode Pillow writes as PNG (it decodes 16-bit greyscale as I;16).
@pytest.mark.parametrize("mode", ["1", "L", "P", "LA", "RGB", "RGBA", "I;16"])
def test_a_40_megapixel_png_of_any_mode_is_processed_or_refused_within_the_memory(
    tmp_path: Path, mode: str
) -> None:
    path = tmp_path / "big.png"
    buffer = io.BytesIO()
    Image.new(mode, (8000, 5000)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())

    result = processed(path, "image/png")

    assert result["status"] in ("processed", "invalid"), result
    if result["status"] == "invalid":
        assert result["reason"], result
    assert int(str(result["peak_mb"])) < MEMORY_SIZE, result
