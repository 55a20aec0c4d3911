"""The upload processor through its Lambda handler: S3 notification records for objects really
in the (moto) bucket, the metadata table kept in step, thumbnails, and events that arrive twice,
late or out of order."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from src.handlers.s3_handler import process_event
from src.repositories.uploads import MetadataRepository, ObjectStore
from src.services.uploads import UploadProcessor
from tests.conftest import IMAGE_MEMORY, LambdaContext, load_event
from tests.steps import After
from tests.uploads_bucket import Bucket, metadata, png

pytestmark = pytest.mark.usefixtures("metadata_table", "uploads_bucket")


@pytest.fixture
def bucket(uploads_bucket: str) -> Bucket:
    return Bucket(uploads_bucket)


def invoke(*records: dict[str, Any]) -> dict[str, Any]:
    from src.handlers import s3_handler

    response: dict[str, Any] = s3_handler.handler(
        {"Records": list(records)}, LambdaContext(function_name="S3HandlerFunction")
    )
    return response


def test_a_json_upload_gets_metadata_and_a_record_count(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    invoke(
        bucket.put(
            "uploads/u1/orders.json", json.dumps([{"a": 1}] * 7).encode(), "application/json"
        )
    )

    item = metadata(dynamodb, metadata_table)[
        "s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u1/orders.json"
    ]
    assert item["bucket"] == "users-service-dev-uploads-123456789012-us-east-1"
    assert item["key"] == "uploads/u1/orders.json"
    assert item["size"] == len(json.dumps([{"a": 1}] * 7))
    assert item["contentType"] == "application/json"
    assert item["recordCount"] == 7
    assert item["status"] == "processed"
    assert item["lastModified"].endswith("Z")
    assert item["processedAt"].endswith("Z")


def test_an_image_gets_its_size_and_a_real_thumbnail_under_thumbnails(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    invoke(bucket.put("uploads/u2/cat.png", png((1000, 400)), "image/png"))

    item = metadata(dynamodb, metadata_table)[
        "s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u2/cat.png"
    ]
    assert (item["width"], item["height"]) == (1000, 400)
    assert item["thumbnailKey"].startswith("thumbnails/u2/cat.png/")
    assert bucket.keys("thumbnails/") == [item["thumbnailKey"]]
    with Image.open(io.BytesIO(bucket.read(item["thumbnailKey"]))) as thumbnail:
        assert thumbnail.size == (256, 102)


def test_removing_an_object_removes_its_item_and_thumbnail(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    invoke(bucket.put("uploads/u3/cat.png", png((300, 300)), "image/png"))

    invoke(bucket.delete("uploads/u3/cat.png"))

    assert metadata(dynamodb, metadata_table) == {}
    assert bucket.keys("thumbnails/") == []


def test_a_duplicate_event_changes_nothing(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    created = bucket.put("uploads/u4/cat.png", png((300, 200)), "image/png")
    invoke(created)
    before = metadata(dynamodb, metadata_table)

    invoke(created)
    invoke(created)

    assert metadata(dynamodb, metadata_table) == before
    assert bucket.keys("thumbnails/") == [
        before["s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u4/cat.png"][
            "thumbnailKey"
        ]
    ]


def test_a_late_creation_event_does_not_resurrect_a_removed_object(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    # The race a tombstone exists for: the processor reads the object just before it is
    # deleted, and the removal is recorded before the creation.
    created = bucket.put("uploads/u5/cat.png", png((300, 200)), "image/png")
    removed = bucket.record("ObjectRemoved:Delete", "uploads/u5/cat.png")  # newer sequencer

    invoke(removed)
    invoke(created)

    assert metadata(dynamodb, metadata_table) == {}
    assert bucket.keys("thumbnails/") == []


def test_an_older_version_never_overwrites_a_newer_one(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    first = bucket.put("uploads/u6/pic.png", png((100, 50)), "image/png")
    second = bucket.put("uploads/u6/pic.png", png((80, 80), (1, 2, 3)), "image/png")

    invoke(second)
    invoke(first)

    item = metadata(dynamodb, metadata_table)[
        "s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u6/pic.png"
    ]
    assert (item["width"], item["height"]) == (80, 80)
    assert bucket.keys("thumbnails/") == [item["thumbnailKey"]]


def test_a_replaced_version_loses_its_thumbnail(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    invoke(bucket.put("uploads/u7/pic.png", png((100, 50)), "image/png"))
    invoke(bucket.put("uploads/u7/pic.png", png((60, 60), (9, 9, 9)), "image/png"))

    item = metadata(dynamodb, metadata_table)[
        "s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u7/pic.png"
    ]
    assert (item["width"], item["height"]) == (60, 60)
    assert bucket.keys("thumbnails/") == [item["thumbnailKey"]]


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        (
            ("fake.png", b"<html>not a png</html>", "image/png"),
            "not a valid PNG image: not an image format that can be read",
        ),
        (("empty.png", b"", "image/png"), "not a valid PNG image: empty"),
        (
            ("broken.json", b'{"a": [1, 2', "application/json"),
            "not valid JSON: parse error: premature EOF",
        ),
        (("empty.json", b"", "application/json"), "not valid JSON: parse error: premature EOF"),
    ],
    ids=["not an image", "empty image", "truncated JSON", "empty JSON"],
)
def test_a_file_that_can_never_be_processed_is_recorded_at_once_not_retried(
    bucket: Bucket,
    dynamodb: Any,
    metadata_table: str,
    file: tuple[str, bytes, str],
    reason: str,
) -> None:
    name, body, content_type = file
    # invoke() returns the handler's answer: it raised nothing, so Lambda retries nothing.
    response = invoke(bucket.put(f"uploads/u8/{name}", body, content_type))

    item = metadata(dynamodb, metadata_table)[
        f"s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u8/{name}"
    ]
    assert response == {
        "processed": [
            {
                "objectKey": f"s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u8/{name}",
                "outcome": "failed",
            }
        ]
    }
    assert (item["status"], item["reason"]) == ("invalid", reason)
    assert "thumbnailKey" not in item
    assert "recordCount" not in item
    assert bucket.keys("thumbnails/") == []


def test_json_over_the_cap_is_skipped_with_the_reason_and_not_read(
    bucket: Bucket, dynamodb: Any, metadata_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("src.services.uploads.MAX_JSON_BYTES", 1024)

    invoke(bucket.put("uploads/u10/big.json", b"[" + b"1," * 2000 + b"1]", "application/json"))

    item = metadata(dynamodb, metadata_table)[
        "s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u10/big.json"
    ]
    assert item["status"] == "skipped"
    assert "records not counted" in item["reason"]
    assert item["size"] == 4003


def test_other_files_get_metadata_only(bucket: Bucket, dynamodb: Any, metadata_table: str) -> None:
    invoke(bucket.put("uploads/u11/notes.txt", b"hello", "text/plain"))

    item = metadata(dynamodb, metadata_table)[
        "s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u11/notes.txt"
    ]
    assert item["status"] == "processed"
    assert item["contentType"] == "text/plain"
    assert not {"recordCount", "width", "thumbnailKey"} & set(item)


def test_a_file_is_judged_an_image_by_its_content_not_its_name(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    # Given text named like an image, and an image named like nothing, both with no image type
    invoke(
        bucket.put("uploads/u30/notes.png", b"plain text", "text/plain"),
        bucket.put("uploads/u30/scan.bin", png((300, 200)), "application/octet-stream"),
    )

    items = metadata(dynamodb, metadata_table)
    prefix = "s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u30/"
    # Then the text is stored as a file, and the image gets its size and thumbnail
    notes, scan = items[f"{prefix}notes.png"], items[f"{prefix}scan.bin"]
    assert notes["status"] == "processed"
    assert not {"width", "thumbnailKey", "reason"} & set(notes)
    assert (scan["status"], scan["width"], scan["height"]) == ("processed", 300, 200)
    assert bucket.keys("thumbnails/u30/") == [scan["thumbnailKey"]]


def test_a_16_bit_greyscale_image_gets_a_thumbnail_of_its_whole_range(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    # Given a 16-bit greyscale PNG, dark on the left and bright on the right, past 2,000 px
    image = Image.new("I;16", (2400, 1200))
    image.paste(60000, (1200, 0, 2400, 1200))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")

    invoke(bucket.put("uploads/u31/depth.png", buffer.getvalue(), "image/png"))

    item = metadata(dynamodb, metadata_table)[
        "s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u31/depth.png"
    ]
    assert (item["status"], item["width"], item["height"]) == ("processed", 2400, 1200)
    with Image.open(io.BytesIO(bucket.read(item["thumbnailKey"]))) as thumbnail:
        grey = thumbnail.convert("L")
        assert grey.size == (256, 128)
        # The dark half near black, the bright half near white (resampling rings at the edge).
        dark, bright = grey.getpixel((10, 64)), grey.getpixel((245, 64))
        assert isinstance(dark, int)
        assert isinstance(bright, int)
        assert (dark <= 8, bright >= 247) == (True, True), (dark, bright)


def test_a_thumbnail_write_is_not_processed_again(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    invoke(bucket.put("uploads/u12/cat.png", png((300, 300)), "image/png"))
    (thumbnail,) = bucket.keys("thumbnails/")

    response = invoke(bucket.record("ObjectCreated:Put", thumbnail, 100, "abc"))

    assert response["processed"][0]["outcome"] == "ignored"
    assert set(metadata(dynamodb, metadata_table)) == {
        "s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u12/cat.png"
    }


def test_the_sample_event_key_is_url_decoded(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    event = load_event("s3_put_image_encoded_key.json")
    key = "uploads/5a6b7c8d9e0f41a2b3c4d5e6f7a8b9c0/my holiday+photo é.png"
    real = bucket.put(key, png((64, 32)), "image/png")
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = bucket.name
    record["s3"]["object"]["eTag"] = real["s3"]["object"]["eTag"]

    invoke(record)

    item = metadata(dynamodb, metadata_table)[
        f"s3://users-service-dev-uploads-123456789012-us-east-1/{key}"
    ]
    assert item["key"] == key
    assert (item["width"], item["height"]) == (64, 32)


def test_an_aws_fault_raises_so_lambda_retries(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    created = bucket.put("uploads/u13/a.json", b"[]", "application/json")
    dynamodb.delete_table(TableName=metadata_table)

    with pytest.raises(Exception, match=r"ResourceNotFoundException|not found"):
        invoke(created)


def test_a_removal_leaves_a_tombstone_that_expires(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    invoke(bucket.put("uploads/u14/a.json", b"[]", "application/json"))
    invoke(bucket.delete("uploads/u14/a.json"))

    (tombstone,) = [
        item
        for item in dynamodb.scan(TableName=metadata_table)["Items"]
        if not item["objectKey"]["S"].startswith("upload#")  # the upload's ticket
    ]
    assert (
        tombstone["objectKey"]["S"]
        == "tombstone#s3://users-service-dev-uploads-123456789012-us-east-1/uploads/u14/a.json"
    )
    assert int(tombstone["expiresAt"]["N"]) > 0


# Two versions of one object processed at the same moment, as two concurrent invocations would:
# whatever the interleaving, the item names the newer version's thumbnail, and it exists.


def uploads(
    bucket: Bucket,
    dynamodb: Any,
    table: str,
    objects: Callable[[ObjectStore], Any] = lambda store: store,
    store: Callable[[MetadataRepository], Any] = lambda store: store,
) -> UploadProcessor:
    """The processor's service, with its stores wrapped by `objects` and `store`."""
    return UploadProcessor(
        objects(ObjectStore(bucket.s3, bucket.name)),
        store(MetadataRepository(dynamodb, table)),
        image_memory=IMAGE_MEMORY,
    )


def newer_version(bucket: Bucket, dynamodb: Any, table: str, key: str) -> Callable[[], None]:
    """Writes a newer (80 x 80) version of `key` and processes its event, when called."""

    def arrives() -> None:
        newer = bucket.put(key, png((80, 80), (1, 2, 3)), "image/png")
        process_event({"Records": [newer]}, uploads(bucket, dynamodb, table))

    return arrives


def only_thumbnail_is_the_items(bucket: Bucket, dynamodb: Any, table: str, key: str) -> None:
    item = metadata(dynamodb, table)[f"s3://users-service-dev-uploads-123456789012-us-east-1/{key}"]
    assert (item["width"], item["height"]) == (80, 80)  # the newer version
    assert bucket.keys("thumbnails/") == [item["thumbnailKey"]]


def test_a_newer_version_recorded_before_the_older_cleans_up_keeps_its_thumbnail(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    key = "uploads/u15/pic.png"
    older = bucket.put(key, png((100, 50)), "image/png")

    newer_version_arrives = newer_version(bucket, dynamodb, metadata_table, key)
    # The older version is recorded; the newer one is processed before the older cleans up.
    slow = uploads(
        bucket, dynamodb, metadata_table, store=lambda s: After(s, "record", newer_version_arrives)
    )
    process_event({"Records": [older]}, slow)

    only_thumbnail_is_the_items(bucket, dynamodb, metadata_table, key)


def test_a_newer_thumbnail_written_while_the_older_version_is_recorded_survives_its_cleanup(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    key = "uploads/u16/pic.png"
    older = bucket.put(key, png((100, 50)), "image/png")
    newer_thumbnail_written, older_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def pause() -> None:
        newer_thumbnail_written.set()
        older_done.wait(10)

    def process_newer(record: dict[str, Any]) -> None:
        service = uploads(
            bucket, dynamodb, metadata_table, objects=lambda o: After(o, "put", pause)
        )
        try:
            process_event({"Records": [record]}, service)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    newer_processing = threading.Thread(target=lambda: None)

    def newer_version_arrives() -> None:
        nonlocal newer_processing
        newer = bucket.put(key, png((80, 80), (1, 2, 3)), "image/png")
        newer_processing = threading.Thread(target=process_newer, args=(newer,))
        newer_processing.start()
        assert newer_thumbnail_written.wait(10)

    # The older version has been read; the newer one is written, read and its thumbnail stored,
    # but not yet recorded, while the older version is recorded and cleans up.
    slow = uploads(
        bucket, dynamodb, metadata_table, objects=lambda o: After(o, "open", newer_version_arrives)
    )
    process_event({"Records": [older]}, slow)
    older_done.set()
    newer_processing.join(10)

    assert failures == []
    only_thumbnail_is_the_items(bucket, dynamodb, metadata_table, key)


def test_a_removal_cleaning_up_after_a_newer_version_is_recorded_keeps_its_thumbnail(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    key = "uploads/u17/pic.png"
    invoke(bucket.put(key, png((100, 50)), "image/png"))
    removed = bucket.delete(key)

    newer_version_arrives = newer_version(bucket, dynamodb, metadata_table, key)
    slow = uploads(
        bucket,
        dynamodb,
        metadata_table,
        store=lambda s: After(s, "record_removal", newer_version_arrives),
    )
    process_event({"Records": [removed]}, slow)

    only_thumbnail_is_the_items(bucket, dynamodb, metadata_table, key)


def test_a_file_in_a_thumbnail_folder_not_named_by_a_sequencer_is_left_alone(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    key = "uploads/u18/pic.png"
    invoke(bucket.put(key, png((100, 50)), "image/png"))
    bucket.s3.put_object(Bucket=bucket.name, Key="thumbnails/u18/pic.png/notes.txt", Body=b"x")

    invoke(bucket.put(key, png((80, 80), (1, 2, 3)), "image/png"))

    item = metadata(dynamodb, metadata_table)[
        f"s3://users-service-dev-uploads-123456789012-us-east-1/{key}"
    ]
    assert bucket.keys("thumbnails/") == sorted(
        [item["thumbnailKey"], "thumbnails/u18/pic.png/notes.txt"]
    )


def test_a_key_xml_cannot_carry_still_loses_its_replaced_thumbnail(
    bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    # S3 allows any UTF-8 in a key, but a multi-object delete's XML body cannot hold U+000B.
    key = "uploads/u19/tab\x0bbed.png"
    invoke(bucket.put(key, png((100, 50)), "image/png"))

    invoke(bucket.put(key, png((80, 80), (1, 2, 3)), "image/png"))

    only_thumbnail_is_the_items(bucket, dynamodb, metadata_table, key)
