"""No queue message and no bucket event makes a handler raise or half-write: generated SQS
bodies (raw and SNS-wrapped, near-valid and garbage) and S3 events (hostile keys, odd event
names, missing fields) through the handlers in-process, against moto."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any
from urllib.parse import quote_plus

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ApiClient, LambdaContext
from tests.order_queue import sqs_record
from tests.uploads_bucket import metadata, png

# Examples share one emulated account: each stored version gets a later sequencer, as in S3.
SEQUENCERS = (f"{n:018X}" for n in itertools.count(0x0065F1A2B3C4D5E600))
HOSTILE = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
numbers = st.one_of(
    st.integers(-(10**20), 10**20),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.just("1e400"),
    st.text(max_size=5),
)
items = st.lists(
    st.fixed_dictionaries({}, optional={"productId": scalars, "quantity": numbers}), max_size=3
)
order_ids = st.sampled_from(["o-1", "o-2"]) | st.text(max_size=40) | st.integers()
near_valid = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["order_created", "order_updated", "order_cancelled", "order_deleted", ""]
        ),
        "orderId": order_ids,
    },
    optional={
        "customerId": scalars,
        "items": items,
        "total": numbers,
        "updates": st.dictionaries(
            st.sampled_from(["status", "items", "total", "shippingAddress", "customerId"]),
            st.sampled_from(["pending", "shipped", "cancelled", "lost"]) | numbers | items,
            max_size=3,
        ),
        "reason": scalars,
    },
)
documents = near_valid | json_values
bodies = st.one_of(
    documents.map(json.dumps),
    documents.map(
        lambda doc: json.dumps(
            {"Type": "Notification", "TopicArn": "t", "Message": json.dumps(doc)}
        )
    ),
    st.text(max_size=200),
)


@HOSTILE
@given(batch=st.lists(bodies, min_size=1, max_size=10))
def test_queue_messages_never_raise_or_half_write(api: ApiClient, batch: list[str]) -> None:
    from src.handlers import sqs_handler

    records = [sqs_record(body, message_id=str(uuid.uuid4())) for body in batch]
    response = sqs_handler.handler(
        {"Records": records}, LambdaContext(function_name="SqsHandlerFunction")
    )

    ids = [record["messageId"] for record in records]
    failed = [entry["itemIdentifier"] for entry in response["batchItemFailures"]]
    assert set(failed) <= set(ids)
    # Every stored order reads back whole through the API: nothing half-written.
    stored = boto3.client("dynamodb").scan(TableName="orders-test")["Items"]
    for item in stored:
        read = api.request("GET", f"/orders/{quote_plus(item['orderId']['S'])}")
        assert read.status == 200, (item, read.body)


keys = st.text(st.characters(exclude_categories=["Cs"]), max_size=60).map(
    lambda tail: "uploads/" + tail
) | st.text(max_size=40)
event_names = st.sampled_from(
    ["ObjectCreated:Put", "ObjectCreated:Copy", "ObjectRemoved:Delete", "ObjectRestore:Post", ""]
) | st.text(max_size=20)
s3_objects = st.fixed_dictionaries(
    {"key": keys.map(lambda key: quote_plus(key, safe="/"))},
    optional={
        "sequencer": st.sampled_from(["0065F1A2B3C4D5E6F7", "00", "", "zz"]) | st.text(max_size=20),
        "eTag": st.text(max_size=34),
        "size": st.integers(-1, 2**40) | st.text(max_size=4),
    },
)
records = st.fixed_dictionaries(
    {"eventName": event_names},
    optional={
        "s3": st.fixed_dictionaries(
            {"object": s3_objects},
            optional={
                "bucket": st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(
                            ["users-service-dev-uploads-123456789012-us-east-1", "other"]
                        )
                    }
                )
            },
        )
        | json_values,
        "eventSource": st.just("aws:s3"),
    },
)


@HOSTILE
@given(
    events=st.lists(records, max_size=4),
    stored_key=keys,
    content=st.sampled_from(["json", "png", "text"]),
)
def test_bucket_events_never_raise_or_half_write(
    metadata_table: str,
    uploads_bucket: str,
    events: list[dict[str, Any]],
    stored_key: str,
    content: str,
) -> None:
    from src.handlers import s3_handler

    s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
    # Each example on an empty bucket and table. Across examples, a junk record with a high
    # sequencer (say ...E6F7, later than this run's real ones) and no ETag would record one
    # example's object and make the next example's real, lower-sequenced event look stale:
    # S3 itself never sends such a record.
    for listed in s3.list_objects_v2(Bucket=uploads_bucket).get("Contents", []):
        s3.delete_object(Bucket=uploads_bucket, Key=listed["Key"])
    for item in dynamodb.scan(TableName=metadata_table)["Items"]:
        dynamodb.delete_item(TableName=metadata_table, Key={"objectKey": item["objectKey"]})
    body, content_type = {
        "json": (b'[{"a": 1}]', "application/json"),
        "png": (png((20, 10)), "image/png"),
        "text": (b"text", "text/plain"),
    }[content]
    real: list[dict[str, Any]] = []
    if 0 < len(stored_key.encode()) <= 1024:
        etag = s3.put_object(
            Bucket=uploads_bucket, Key=stored_key, Body=body, ContentType=content_type
        )["ETag"]
        real.append(
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": uploads_bucket},
                    "object": {
                        "key": quote_plus(stored_key, safe="/"),
                        "eTag": etag.strip('"'),
                        "sequencer": next(SEQUENCERS),
                        "size": len(body),
                    },
                },
            }
        )

    s3_handler.handler(
        {"Records": [*events, *real]}, LambdaContext(function_name="S3HandlerFunction")
    )

    for item in metadata(dynamodb, metadata_table).values():
        head = s3.head_object(Bucket=item["bucket"], Key=item["key"])
        assert item["size"] == head["ContentLength"]
        if "thumbnailKey" in item:
            s3.head_object(Bucket=item["bucket"], Key=item["thumbnailKey"])


def test_an_image_under_the_longest_key_gets_metadata_without_failing(
    metadata_table: str, uploads_bucket: str
) -> None:
    from src.handlers import s3_handler

    key = "uploads/" + "k" * (1024 - len("uploads/"))  # S3's limit: 1024 bytes
    s3 = boto3.client("s3")
    etag = s3.put_object(
        Bucket=uploads_bucket, Key=key, Body=png((20, 10)), ContentType="image/png"
    )["ETag"]
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": uploads_bucket},
            "object": {"key": key, "eTag": etag.strip('"'), "sequencer": next(SEQUENCERS)},
        },
    }

    s3_handler.handler({"Records": [record]}, LambdaContext(function_name="S3HandlerFunction"))

    item = metadata(boto3.client("dynamodb"), metadata_table)[f"s3://{uploads_bucket}/{key}"]
    assert (item["width"], item["height"]) == (20, 10)
    # moto takes longer keys; S3 refuses them (KeyTooLongError).
    assert len(item["thumbnailKey"].encode()) <= 1024
    s3.head_object(Bucket=uploads_bucket, Key=item["thumbnailKey"])
