"""The metadata table stays exactly in step with the bucket under at-least-once, unordered
delivery and AWS faults.

Generated histories of puts and deletes on a few keys happen in the (moto) bucket; their S3
notification records are then delivered duplicated and shuffled, a few records per invocation,
through the handler's own event processing over DynamoDB and S3 clients that fail before or
after a call takes effect (tests/faults.py). A failed invocation is retried twice, as Lambda
retries asynchronous invocations; one that fails three times lands with the on-failure
destination, from which an operator replays it. Then every object under uploads/ has exactly
its metadata (size, type, record count, image size), every removed object none, and
thumbnails/ holds exactly the thumbnails the items name.

The same holds when invocations run at the same moment: tests/steps.py interleaves them at
every AWS call, in orders hypothesis chooses.
"""

from __future__ import annotations

import functools
import json
import os
import random
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from src.handlers.s3_handler import process_event
from src.repositories.uploads import MetadataRepository, ObjectStore
from src.services.uploads import UploadProcessor
from tests.conftest import IMAGE_MEMORY, create_tables_from_template
from tests.faults import AFTER, BEFORE, FaultyClient
from tests.steps import After, Scheduler
from tests.uploads_bucket import Bucket, metadata, png

# The names the S3 processor's role grants (tests/roles.py).
BUCKET = os.environ["UPLOADS_BUCKET"]
TABLE = os.environ["METADATA_TABLE"]
KEYS = ["uploads/a.json", "uploads/b.png", "uploads/c"]
LAMBDA_ATTEMPTS = 3  # the first invocation and Lambda's two retries

# What a put stores: (content type, body) by kind, and what the metadata must then say.
CONTENTS = {
    "json-2": ("application/json", json.dumps([{"n": 1}, {"n": 2}]).encode()),
    "json-5": ("application/json", json.dumps([{"n": i} for i in range(5)]).encode()),
    "image-small": ("image/png", png((40, 30))),
    "image-large": ("image/png", png((300, 120), (200, 10, 10))),
    "text": ("text/plain", b"plain text"),
}
EXPECTED = {
    "json-2": {"recordCount": 2},
    "json-5": {"recordCount": 5},
    "image-small": {"width": 40, "height": 30},
    "image-large": {"width": 300, "height": 120},
    "text": {},
}

actions = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "delete"]),
        st.sampled_from(KEYS),
        st.sampled_from(sorted(CONTENTS)),
    ),
    min_size=1,
    max_size=10,
)


@functools.cache
def client(service: str) -> Any:
    return boto3.client(service)  # type: ignore[call-overload]


class Lambda:
    """Invokes the handler's event processing as S3's asynchronous invocations do: records
    delivered at least once and out of order, one to three per event, each event tried up to
    three times, then left with the on-failure destination."""

    def __init__(self, service: UploadProcessor, rng: random.Random) -> None:
        self.service = service
        self.rng = rng
        self.pending: list[dict[str, Any]] = []
        self.invocations = 0
        self.dead_letters: list[list[dict[str, Any]]] = []

    def invoke_some(self, everything: bool = False) -> None:
        self.rng.shuffle(self.pending)
        while self.pending and (everything or self.rng.random() < 0.5):
            size = self.rng.randint(1, 3)
            records, self.pending = self.pending[:size], self.pending[size:]
            self._invoke(records)
            # S3 may send a record again, any time later.
            self.pending += [r for r in records if self.rng.random() < 0.2]

    def _invoke(self, records: list[dict[str, Any]]) -> None:
        for _ in range(LAMBDA_ATTEMPTS):
            self.invocations += 1
            try:
                process_event({"Records": records}, self.service)
                return
            except Exception:  # noqa: S112 - Lambda retries on any error
                continue
        self.dead_letters.append(records)


def check_in_step(bucket: Bucket, kinds: dict[str, str]) -> None:
    items = metadata(client("dynamodb"), TABLE)
    s3 = client("s3")
    stored = {key for key in KEYS if key in bucket.keys("uploads/")}
    assert set(items) == {f"s3://{BUCKET}/{key}" for key in stored}
    for key in stored:
        item = items[f"s3://{BUCKET}/{key}"]
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert item["size"] == head["ContentLength"], key
        assert item["contentType"] == head["ContentType"], key
        for name, value in EXPECTED[kinds[key]].items():
            assert item[name] == value, (key, name)
        assert ("thumbnailKey" in item) == kinds[key].startswith("image"), key
    named = {item["thumbnailKey"] for item in items.values() if "thumbnailKey" in item}
    assert set(bucket.keys("thumbnails/")) == named


def run(
    history: list[tuple[str, str, str]], seed: int, fault_rate: float
) -> tuple[Lambda, list[FaultyClient]]:
    rng = random.Random(seed)
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    create_tables_from_template(client("dynamodb"), {"MetadataTable": TABLE})
    bucket = Bucket(BUCKET)
    faults = [
        FaultyClient(client("dynamodb"), rng, fault_rate, {"get_item", "transact_write_items"}),
        FaultyClient(
            client("s3"),
            rng,
            fault_rate,
            {"get_object", "put_object", "delete_object"},
        ),
    ]
    service = UploadProcessor(
        ObjectStore(faults[1], BUCKET),  # type: ignore[arg-type]
        MetadataRepository(faults[0], TABLE),  # type: ignore[arg-type]
        image_memory=IMAGE_MEMORY,
    )
    invoker = Lambda(service, rng)
    kinds: dict[str, str] = {}
    # Events are processed while the bucket keeps changing, so some meet the version they
    # announce and some a later one.
    for action, key, kind in history:
        if action == "put":
            content_type, body = CONTENTS[kind]
            invoker.pending.append(bucket.put(key, body, content_type))
            kinds[key] = kind
        elif key in kinds:
            invoker.pending.append(bucket.delete(key))
        invoker.invoke_some()
    invoker.invoke_some(everything=True)
    # The operator replays what reached the on-failure destination, once AWS is well again.
    for fault in faults:
        fault.rate = 0.0
    for dead in invoker.dead_letters:
        process_event({"Records": dead}, service)
    check_in_step(bucket, kinds)
    return invoker, faults


HISTORIES = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HISTORIES
@given(history=actions, seed=st.integers(0, 2**32 - 1))
def test_duplicated_and_shuffled_events_keep_metadata_in_step(
    history: list[tuple[str, str, str]], seed: int
) -> None:
    with mock_aws():
        run(history, seed, fault_rate=0.0)


@HISTORIES
@given(history=actions, seed=st.integers(0, 2**32 - 1))
def test_faults_before_and_after_each_call_keep_metadata_in_step(
    history: list[tuple[str, str, str]], seed: int
) -> None:
    with mock_aws():
        run(history, seed, fault_rate=0.25)


def test_the_fault_injection_really_injects() -> None:
    history = [("put", "uploads/b.png", "image-small"), ("put", "uploads/b.png", "image-large")]
    history += [("put", "uploads/a.json", "json-2"), ("delete", "uploads/a.json", "text")]
    # Enough events that, whatever the seed, every kind of fault is drawn and some event fails
    # all its attempts (each does with a chance near 0.6 ** 3: none of 40 does, about 6e-5).
    seed = random.randrange(2**32)
    print(f"fault injection seed: {seed}")
    with mock_aws():
        delivery, faults = run(history * 10, seed, fault_rate=0.6)

    injected = faults[0].injected + faults[1].injected
    assert set(injected) == {*BEFORE, *AFTER}
    assert delivery.dead_letters


def lose_the_response() -> None:
    raise ReadTimeoutError(endpoint_url="https://injected")


def test_a_retry_after_a_lost_metadata_response_still_deletes_replaced_thumbnails() -> None:
    with mock_aws():
        client("s3").create_bucket(Bucket=BUCKET)
        create_tables_from_template(client("dynamodb"), {"MetadataTable": TABLE})
        bucket = Bucket(BUCKET)
        healthy = UploadProcessor(
            ObjectStore(client("s3"), BUCKET),
            MetadataRepository(client("dynamodb"), TABLE),
            image_memory=IMAGE_MEMORY,
        )
        process_event(
            {"Records": [bucket.put("uploads/b.png", png((40, 30)), "image/png")]}, healthy
        )
        second = bucket.put("uploads/b.png", png((300, 120)), "image/png")
        losing = UploadProcessor(
            ObjectStore(client("s3"), BUCKET),
            MetadataRepository(
                After(client("dynamodb"), "transact_write_items", lose_the_response), TABLE
            ),
            image_memory=IMAGE_MEMORY,
        )

        with pytest.raises(ReadTimeoutError):
            process_event({"Records": [second]}, losing)
        process_event({"Records": [second]}, losing)  # Lambda's retry

        check_in_step(bucket, {"uploads/b.png": "image-large"})


# Concurrent invocations: S3 may deliver the events of one object's versions, or one event
# twice, to invocations that run at the same moment. Every AWS call is a point where another
# invocation (or the bucket's writer) may take over; hypothesis picks who, at each one.
concurrent_history = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "delete"]),
        # Mostly images: their thumbnails are what concurrent invocations can get wrong.
        st.sampled_from(["image-small", "image-large", "image-small", "image-large", "text"]),
        st.integers(1, 2),  # deliveries of its event, each to its own invocation
    ),
    min_size=2,
    max_size=5,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=concurrent_history, data=st.data())
def test_concurrent_invocations_keep_metadata_and_thumbnails_in_step(
    history: list[tuple[str, str, int]], data: st.DataObject
) -> None:
    key = "uploads/b.png"
    with mock_aws():
        client("s3").create_bucket(Bucket=BUCKET)
        create_tables_from_template(client("dynamodb"), {"MetadataTable": TABLE})
        bucket = Bucket(BUCKET)
        scheduler = Scheduler(lambda waiting: data.draw(st.integers(0, waiting - 1)))
        service = UploadProcessor(
            ObjectStore(scheduler.gated(client("s3")), BUCKET),
            MetadataRepository(scheduler.gated(client("dynamodb")), TABLE),
            image_memory=IMAGE_MEMORY,
        )
        kinds: dict[str, str] = {}

        def deliver(record: dict[str, Any]) -> None:
            process_event({"Records": [record]}, service)

        def writer() -> None:
            for action, kind, deliveries in history:
                scheduler.step()
                if action == "put":
                    content_type, body = CONTENTS[kind]
                    record = bucket.put(key, body, content_type)
                    kinds[key] = kind
                elif key in kinds:
                    record = bucket.delete(key)
                else:
                    continue
                for _ in range(deliveries):
                    scheduler.spawn(functools.partial(deliver, record))

        scheduler.spawn(writer)
        scheduler.run()

        assert scheduler.failures == []
        check_in_step(bucket, kinds)
