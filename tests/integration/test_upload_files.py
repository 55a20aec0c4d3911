"""Every file gets its outcome: generated files (images of every mode and format Pillow writes,
whole or cut short; JSON in every encoding it allows, with numbers of any length; bytes of no
format) under every declared type, through the upload processor's handler one after another in
one process, each recorded at once as processed, skipped or failed with a reason a person reads.
hypothesis draws fresh examples each run and prints the failing one."""

from __future__ import annotations

import io
import itertools
import json
from typing import Any, get_args

from boto3.dynamodb.types import TypeDeserializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from src.models.uploads import UPLOAD_CONTENT_TYPES
from tests.conftest import LambdaContext
from tests.uploads_bucket import Bucket

PLAIN = TypeDeserializer()

BUCKET = "users-service-dev-uploads-123456789012-us-east-1"
NAMES = itertools.count()
MODES = ["1", "L", "P", "LA", "RGB", "RGBA", "I;16", "I", "F", "CMYK"]
FORMATS = ["PNG", "JPEG", "WEBP", "GIF"]
# Every type a ticket takes, and one of no kind (a file put into the bucket by other means).
TYPES = [*get_args(UPLOAD_CONTENT_TYPES), "application/octet-stream"]


@st.composite
def images(draw: st.DrawFn) -> bytes:
    mode, image_format = draw(st.sampled_from(MODES)), draw(st.sampled_from(FORMATS))
    size = (draw(st.integers(1, 300)), draw(st.integers(1, 300)))
    buffer = io.BytesIO()
    try:
        Image.new(mode, size).save(buffer, format=image_format)
    except (OSError, ValueError, KeyError):
        Image.new("RGB", size).save(buffer, format=image_format)
    data = buffer.getvalue()
    return data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def json_files(draw: st.DrawFn) -> bytes:
    text = json.dumps(draw(documents), ensure_ascii=False)
    if draw(st.booleans()):  # a number of any length in an array
        digits = "9" * draw(st.integers(1, 6000))
        text = f"[{text}, {draw(st.sampled_from(['', '-']))}{digits}]"
    encoding = draw(
        st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32-be", "latin-1"])
    )
    return text.encode(encoding, errors="replace")


files = st.tuples(
    st.one_of(images(), json_files(), st.binary(max_size=200)),
    st.sampled_from(TYPES),
    st.sampled_from(["a.png", "a.json", "a.jpg", "a.bin", "a"]),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(file=files)
def test_every_file_gets_an_outcome_at_once(
    file: tuple[bytes, str, str], metadata_table: str, uploads_bucket: str, dynamodb: Any
) -> None:
    from src.handlers import s3_handler

    body, content_type, name = file
    key = f"uploads/f{next(NAMES)}/{name}"
    bucket = Bucket(uploads_bucket)

    response = s3_handler.handler(
        {"Records": [bucket.put(key, body, content_type)]},
        LambdaContext(function_name="S3HandlerFunction"),
    )

    # The one item read (a scan would read every example's: quadratic in the examples).
    stored = dynamodb.get_item(
        TableName=metadata_table, Key={"objectKey": {"S": f"s3://{BUCKET}/{key}"}}
    )["Item"]
    item = {name: PLAIN.deserialize(value) for name, value in stored.items()}
    assert response["processed"][0]["outcome"] in ("recorded", "failed")
    assert item["status"] in ("processed", "skipped", "invalid")
    if item["status"] != "processed":
        reason = item["reason"]
        assert reason
        assert "b'" not in reason
        assert "\\x" not in reason
