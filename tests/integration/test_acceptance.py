"""The acceptance suite: the running service, used as its users use it (an HTTP client, a
producer on the order queue, a tool uploading to the bucket). `make acceptance` runs it against
the local stack, which the fixture starts (`python -m devtools.local`, what `make dev` runs) on
free loopback ports; `make acceptance ENV=<env>` (STACK_NAME set, with AWS credentials) runs
the same tests against that deployed stack, found through its outputs, with a token: API_TOKEN,
or that of a test user the suite creates in the stack's user pool and deletes after. Either
way the suite removes the users, orders, messages and objects it created."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import requests
from PIL import Image

from devtools.local.api import LOCAL_CALLER_HEADER
from tests.local_stack import cognito_test_user, eventually, local_stack, skip_on_emulator_gap

pytestmark = pytest.mark.long

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The stack outputs of a running service."""
    if os.environ.get("STACK_NAME"):
        from devtools.stack import stack_outputs

        yield stack_outputs(boto3.client("cloudformation"), os.environ["STACK_NAME"])
        return
    # ACCEPTANCE_EMULATOR_URL: another emulator (MiniStack, LocalStack) for the local stack.
    emulator = os.environ.get("ACCEPTANCE_EMULATOR_URL")
    extra = {"AWS_ENDPOINT_URL": emulator} if emulator else {}
    with local_stack(tmp_path_factory.mktemp("local"), **extra) as running:
        yield running.outputs


@pytest.fixture(scope="module")
def aws(stack: dict[str, str]) -> Callable[[str], Any]:
    endpoint = stack.get("AwsEndpointUrl")

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=endpoint) if endpoint else boto3.client(service)

    return client


@dataclass(frozen=True)
class Budgets:
    """How long the stack under test may take, read from its own settings: its order queue's
    attributes, and its functions' timeouts and event source (through CloudFormation and
    Lambda on a deployed stack; the local stack runs template.yaml's functions as declared)."""

    visibility_timeout: int
    max_receive_count: int
    consumer_timeout: int
    batching_window: int
    processor_timeout: int

    @property
    def one_batch(self) -> float:
        """An order event's first receive and its batch's run: the wait for an event the
        consumer sets aside in the DLQ at once."""
        return self.batching_window + self.consumer_timeout

    @property
    def every_receive(self) -> float:
        """Every receive an order event gets, each a visibility timeout after the last, and the
        last batch's run: the wait for an event that applies only after others (or that keeps
        failing, to reach the DLQ)."""
        return self.visibility_timeout * self.max_receive_count + self.one_batch


def _function_settings(stack: dict[str, str], aws: Callable[[str], Any], logical_id: str) -> Any:
    """A function's timeout and its SQS event source's batching window (0 without one)."""
    if "AwsEndpointUrl" in stack:  # the local stack
        from devtools.template import load_template

        template = load_template()
        properties = {
            **template["Globals"]["Function"],
            **template["Resources"][logical_id]["Properties"],
        }
        windows = [
            event["Properties"].get("MaximumBatchingWindowInSeconds", 0)
            for event in properties.get("Events", {}).values()
            if event["Type"] == "SQS"
        ]
        return int(properties["Timeout"]), int(sum(windows))
    name = aws("cloudformation").describe_stack_resource(
        StackName=os.environ["STACK_NAME"], LogicalResourceId=logical_id
    )["StackResourceDetail"]["PhysicalResourceId"]
    timeout = aws("lambda").get_function_configuration(FunctionName=name)["Timeout"]
    mappings = aws("lambda").list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    windows = [mapping.get("MaximumBatchingWindowInSeconds", 0) for mapping in mappings]
    return int(timeout), int(sum(windows))


@pytest.fixture(scope="module")
def budgets(stack: dict[str, str], aws: Callable[[str], Any]) -> Budgets:
    queue = aws("sqs").get_queue_attributes(
        QueueUrl=stack["OrderQueueUrl"], AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
    )["Attributes"]
    consumer_timeout, batching_window = _function_settings(stack, aws, "SqsHandlerFunction")
    processor_timeout, _ = _function_settings(stack, aws, "S3HandlerFunction")
    return Budgets(
        visibility_timeout=int(queue["VisibilityTimeout"]),
        max_receive_count=int(json.loads(queue["RedrivePolicy"])["maxReceiveCount"]),
        consumer_timeout=consumer_timeout,
        batching_window=batching_window,
        processor_timeout=processor_timeout,
    )


@pytest.fixture(scope="module")
def token(stack: dict[str, str], aws: Callable[[str], Any]) -> Iterator[str | None]:
    """The access token requests carry: none for the local stack (open), API_TOKEN if given (an
    administrator's), else that of an administrator made in the stack's user pool for this
    run."""
    if "UserPoolId" not in stack or os.environ.get("API_TOKEN"):
        yield os.environ.get("API_TOKEN")
        return
    with cognito_test_user(
        aws("cognito-idp"), stack["UserPoolId"], stack["UserPoolClientId"], administrator=True
    ) as administrator:
        yield administrator.access_token


@pytest.fixture(scope="module")
def ordinary_user(stack: dict[str, str], aws: Callable[[str], Any]) -> Iterator[dict[str, str]]:
    """How an ordinary user of the pool (not an administrator) is named in a request, with
    their email: their access token on a deployed stack, the local stack's caller header on
    the local one."""
    if "UserPoolId" not in stack:
        email = f"user-{uuid.uuid4().hex[:8]}@example.com"
        yield {"email": email, LOCAL_CALLER_HEADER: f"user {email}"}
        return
    with cognito_test_user(
        aws("cognito-idp"), stack["UserPoolId"], stack["UserPoolClientId"]
    ) as user:
        yield {"email": user.email, "Authorization": user.access_token}


@pytest.fixture(scope="module")
def http(token: str | None) -> Iterator[requests.Session]:
    """A client of the API: every request carries the token (when the stack asks one)."""
    with requests.Session() as session:
        if token:
            session.headers["Authorization"] = token
        yield session


@dataclass
class Created:
    """What the suite made, removed when the module ends."""

    users: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def created(
    stack: dict[str, str], aws: Callable[[str], Any], http: requests.Session
) -> Iterator[Created]:
    made = Created()
    yield made
    api = stack["ApiEndpoint"]
    for user_id in made.users:
        assert http.delete(f"{api}/users/{user_id}", timeout=30).status_code in (204, 404)
    for order_id in made.orders:
        aws("dynamodb").delete_item(
            TableName=stack["OrdersTableName"], Key={"orderId": {"S": order_id}}
        )
    for key in made.objects:  # the processor removes their metadata and thumbnails
        aws("s3").delete_object(Bucket=stack["UploadsBucketName"], Key=key)


def test_an_http_client_goes_through_the_users_lifecycle(
    stack: dict[str, str], http: requests.Session, created: Created
) -> None:
    api = stack["ApiEndpoint"]
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"

    response = http.post(f"{api}/users", json={"email": email, "name": "Ada"}, timeout=30)
    assert response.status_code == 201
    user = response.json()
    created.users.append(user["userId"])
    assert (
        http.post(f"{api}/users", json={"email": email, "name": "X"}, timeout=30).status_code == 409
    )
    got = http.get(f"{api}/users/{user['userId']}", timeout=30)
    assert got.status_code == 200
    assert got.json() == user
    updated = http.put(f"{api}/users/{user['userId']}", json={"age": 0}, timeout=30)
    assert updated.json()["age"] == 0
    listed = http.get(f"{api}/users", params={"limit": 100}, timeout=30).json()
    assert user["userId"] in {u["userId"] for u in listed["users"]}
    deleted = http.delete(f"{api}/users/{user['userId']}", timeout=30)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert http.get(f"{api}/users/{user['userId']}", timeout=30).status_code == 404


def test_an_ordinary_user_reads_their_own_record_and_cannot_touch_anothers(
    stack: dict[str, str],
    http: requests.Session,
    created: Created,
    ordinary_user: dict[str, str],
) -> None:
    api = stack["ApiEndpoint"]
    email = ordinary_user["email"]
    own = http.post(f"{api}/users", json={"email": email, "name": "Ordinary"}, timeout=30)
    other = http.post(
        f"{api}/users",
        json={"email": f"o-{uuid.uuid4().hex[:8]}@example.com", "name": "O"},
        timeout=30,
    )
    assert (own.status_code, other.status_code) == (201, 201)
    created.users += [own.json()["userId"], other.json()["userId"]]
    # Requests as that user: their own header, not the administrator's token.
    user = requests.Session()
    user.headers.update({name: value for name, value in ordinary_user.items() if name != "email"})
    mine = user.get(f"{api}/users/{own.json()['userId']}", timeout=30)
    changed = user.put(f"{api}/users/{own.json()['userId']}", json={"name": "Still me"}, timeout=30)
    theirs = user.get(f"{api}/users/{other.json()['userId']}", timeout=30)
    deleted = user.delete(f"{api}/users/{other.json()['userId']}", timeout=30)
    listed = user.get(f"{api}/users", timeout=30)
    user.close()

    assert (mine.status_code, mine.json()["email"]) == (200, email)
    assert (changed.status_code, changed.json()["name"]) == (200, "Still me")
    assert theirs.status_code == 404
    # The administrators' routes: API Gateway refuses the token's scope before the function.
    assert (deleted.status_code, deleted.json()) == (401, {"message": "Unauthorized"})
    assert (listed.status_code, listed.json()) == (401, {"message": "Unauthorized"})
    assert http.get(f"{api}/users/{other.json()['userId']}", timeout=30).status_code == 200


def test_a_client_retries_a_create_safely_with_an_idempotency_key(
    stack: dict[str, str], http: requests.Session, created: Created
) -> None:
    api = stack["ApiEndpoint"]
    body = {"email": f"ada-{uuid.uuid4().hex[:8]}@example.com", "name": "Ada"}
    key = {"Idempotency-Key": str(uuid.uuid4())}

    first = http.post(f"{api}/users", json=body, headers=key, timeout=30)
    retried = http.post(f"{api}/users", json=body, headers=key, timeout=30)
    other = http.post(f"{api}/users", json={**body, "name": "Bob"}, headers=key, timeout=30)
    malformed = http.post(f"{api}/users", json=body, headers={"Idempotency-Key": ""}, timeout=30)

    assert first.status_code == 201
    created.users.append(first.json()["userId"])
    assert (retried.status_code, retried.json()) == (201, first.json())
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert malformed.status_code == 400
    ticket = {"filename": "cat.png", "contentType": "image/png", "size": 4096}
    upload_key = {"Idempotency-Key": str(uuid.uuid4())}
    tickets = [
        http.post(f"{api}/uploads", json=ticket, headers=upload_key, timeout=30) for _ in range(2)
    ]
    assert [response.status_code for response in tickets] == [201, 201]
    assert tickets[1].json() == tickets[0].json()


def test_api_gateway_behaviour_is_faithful(stack: dict[str, str], http: requests.Session) -> None:
    api = stack["ApiEndpoint"]

    not_allowed = http.patch(f"{api}/users", timeout=30)
    preflight = http.options(
        f"{api}/users",
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    unknown = http.get(f"{api}/no/such/path", timeout=30)
    document = http.get(f"{api}/openapi.json", timeout=30)
    # Any character of a path reaches a route, an encoded newline too (the catch-all's, here).
    newline = http.get(f"{api}/no%0Asuch", timeout=30)

    assert not_allowed.status_code == 405
    assert "GET" in not_allowed.headers["Allow"]
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert unknown.status_code == 404
    assert (newline.status_code, newline.json()) == (404, {"error": "not found"})
    assert {"/users", "/users/{userId}", "/orders/{orderId}", "/uploads"} <= set(
        document.json()["paths"]
    )


def test_a_path_parameter_is_its_segment_decoded_once(
    stack: dict[str, str],
    aws: Callable[[str], Any],
    http: requests.Session,
    created: Created,
    budgets: Budgets,
) -> None:
    skip_on_emulator_gap(
        "rest-path-decoded", "a path parameter is read from the path as the client encoded it"
    )
    api = stack["ApiEndpoint"]
    # Every punctuation mark an order id may hold; "/" and "#" only travel encoded.
    order_id = f"ord#{uuid.uuid4().hex[:8]}/a:b@c"
    created.orders.append(order_id)
    aws("sqs").send_message(
        QueueUrl=stack["OrderQueueUrl"],
        MessageBody=json.dumps(
            {
                "type": "order_created",
                "orderId": order_id,
                "customerId": "cus-1",
                "items": [{"productId": "sku-1", "quantity": 1}],
                "total": 1,
            }
        ),
    )

    def stored() -> dict[str, Any] | None:
        response = http.get(f"{api}/orders/{quote(order_id, safe='')}", timeout=30)
        order: dict[str, Any] | None = response.json() if response.status_code == 200 else None
        return order

    order = eventually(stored, timeout=budgets.one_batch)
    # "%2520" is the three characters "%20", not a space.
    twice = http.get(f"{api}/users/a%2520b", timeout=30)

    assert order is not None
    assert order["orderId"] == order_id
    assert (twice.status_code, twice.json()) == (404, {"error": "user a%20b not found"})


def test_a_method_no_event_declares_reaches_the_function_through_any(
    stack: dict[str, str], http: requests.Session
) -> None:
    skip_on_emulator_gap(
        "any-method-dropped", "TRACE reaches a function only through an ANY method"
    )
    trace = http.request("TRACE", f"{stack['ApiEndpoint']}/users/u-1", timeout=30)

    assert trace.status_code == 405
    assert trace.headers["Allow"] == "DELETE, GET, OPTIONS, PUT"


def test_concurrent_requests_are_served(
    stack: dict[str, str], http: requests.Session, created: Created
) -> None:
    api = stack["ApiEndpoint"]
    statuses: list[int] = []
    run = uuid.uuid4().hex[:8]

    def create(index: int) -> None:
        response = http.post(
            f"{api}/users", json={"email": f"c{index}-{run}@example.com", "name": "C"}, timeout=60
        )
        statuses.append(response.status_code)
        if response.status_code == 201:
            created.users.append(response.json()["userId"])

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [201] * 8


def test_a_producer_with_duplicates_and_a_poison_message(
    stack: dict[str, str],
    aws: Callable[[str], Any],
    http: requests.Session,
    created: Created,
    budgets: Budgets,
) -> None:
    api, sqs = stack["ApiEndpoint"], aws("sqs")
    order_id = f"ord-{uuid.uuid4().hex[:8]}"
    created.orders.append(order_id)
    creation = {
        "type": "order_created",
        "orderId": order_id,
        "customerId": "cus-1",
        "items": [{"productId": "sku-1", "quantity": 2}],
        "total": 19.98,
    }
    poison = f"not json {order_id}"
    bodies = [
        {"type": "order_cancelled", "orderId": order_id, "reason": "changed mind"},
        {"type": "order_updated", "orderId": order_id, "updates": {"status": "confirmed"}},
        creation,
        creation,
        poison,
    ]
    for body in bodies:
        sqs.send_message(
            QueueUrl=stack["OrderQueueUrl"],
            MessageBody=body if isinstance(body, str) else json.dumps(body),
        )

    def cancelled() -> dict[str, Any] | None:
        response = http.get(f"{api}/orders/{order_id}", timeout=30)
        order: dict[str, Any] | None = response.json() if response.status_code == 200 else None
        return order if order and order["status"] == "cancelled" else None

    # The cancellation, sent first, applies once the creation has: after receives of its own.
    order = eventually(cancelled, timeout=budgets.every_receive)
    assert order is not None
    assert order["total"] == 19.98
    assert order["cancelReason"] == "changed mind"

    def take_poison() -> dict[str, Any] | None:
        """The poison message's attributes when it is in the DLQ; taken out of it when found."""
        messages = sqs.receive_message(
            QueueUrl=stack["OrderDLQUrl"],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        for message in messages:
            if message["Body"] == poison:
                sqs.delete_message(
                    QueueUrl=stack["OrderDLQUrl"], ReceiptHandle=message["ReceiptHandle"]
                )
                return {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        return None

    # Set aside by the consumer at once, not after the queue's receives: within one batch.
    attributes = eventually(take_poison, timeout=budgets.one_batch)
    assert attributes is not None
    assert attributes["rejectionRule"] == "invalid-message"
    assert attributes["rejectionReason"] == "body is not JSON"
    assert attributes["originalMessageId"]


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 90, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_uploads_json_and_image_then_a_deletion(
    stack: dict[str, str],
    aws: Callable[[str], Any],
    http: requests.Session,
    created: Created,
    budgets: Budgets,
) -> None:
    api, dynamodb, s3 = stack["ApiEndpoint"], aws("dynamodb"), aws("s3")
    bucket, table = stack["UploadsBucketName"], stack["MetadataTableName"]
    uploaded = {}
    for filename, content_type, body in [
        ("records.json", "application/json", json.dumps([{"a": 1}, {"a": 2}]).encode()),
        ("photo.png", "image/png", png((600, 300))),
    ]:
        ticket = http.post(
            f"{api}/uploads",
            json={"filename": filename, "contentType": content_type, "size": len(body)},
            timeout=30,
        ).json()
        created.objects.append(ticket["key"])
        # To the presigned URL, without the API's token: S3 takes the signature in the URL.
        put = requests.put(
            ticket["uploadUrl"], data=body, headers={"Content-Type": content_type}, timeout=30
        )
        assert put.status_code == 200
        uploaded[filename] = ticket["key"]

    def item(key: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = dynamodb.get_item(
            TableName=table, Key={"objectKey": {"S": f"s3://{bucket}/{key}"}}
        ).get("Item")
        return found

    # Each upload's event runs the processor once: within its timeout.
    records = eventually(lambda: item(uploaded["records.json"]), budgets.processor_timeout)
    photo = eventually(lambda: item(uploaded["photo.png"]), budgets.processor_timeout)
    assert records is not None
    assert records["recordCount"] == {"N": "2"}
    assert photo is not None
    assert (photo["width"], photo["height"]) == ({"N": "600"}, {"N": "300"})
    thumbnail = s3.get_object(Bucket=bucket, Key=photo["thumbnailKey"]["S"])["Body"].read()
    assert Image.open(io.BytesIO(thumbnail)).size == (256, 128)

    s3.delete_object(Bucket=bucket, Key=uploaded["photo.png"])

    assert eventually(lambda: item(uploaded["photo.png"]) is None, budgets.processor_timeout)
    assert eventually(
        lambda: (
            not s3.list_objects_v2(Bucket=bucket, Prefix=photo["thumbnailKey"]["S"]).get("Contents")
        ),
        budgets.processor_timeout,
    )


def test_a_client_follows_its_uploads_to_their_results(
    stack: dict[str, str], http: requests.Session, created: Created, budgets: Budgets
) -> None:
    api = stack["ApiEndpoint"]
    image = png((600, 300))
    followed = {}
    for filename, body in [("photo.png", image), ("broken.png", b"<html>not a png</html>")]:
        ticket = http.post(
            f"{api}/uploads",
            json={"filename": filename, "contentType": "image/png", "size": len(body)},
            timeout=30,
        ).json()
        created.objects.append(ticket["key"])
        pending = http.get(f"{api}/uploads/{ticket['uploadId']}", timeout=30)
        assert (pending.status_code, pending.json()["status"]) == (200, "pending")
        put = requests.put(
            ticket["uploadUrl"], data=body, headers={"Content-Type": "image/png"}, timeout=30
        )
        assert put.status_code == 200
        followed[filename] = ticket["uploadId"]

    def finished(upload_id: str) -> dict[str, Any] | None:
        body: dict[str, Any] = http.get(f"{api}/uploads/{upload_id}", timeout=30).json()
        return body if body["status"] != "pending" else None

    photo = eventually(lambda: finished(followed["photo.png"]), budgets.processor_timeout)
    broken = eventually(lambda: finished(followed["broken.png"]), budgets.processor_timeout)
    assert photo is not None
    assert (photo["status"], photo["width"], photo["height"]) == ("processed", 600, 300)
    # The URLs work without the API's token: S3 takes the signature in the URL.
    assert requests.get(photo["downloadUrl"], timeout=30).content == image
    thumbnail = requests.get(photo["thumbnailUrl"], timeout=30).content
    assert Image.open(io.BytesIO(thumbnail)).size == (256, 128)
    assert broken == {
        **{name: broken[name] for name in ("uploadId", "key", "size", "lastModified")},
        "status": "failed",
        "error": "not a valid PNG image: not an image format that can be read",
        "contentType": "image/png",
        "processedAt": broken["processedAt"],
    }
    assert http.get(f"{api}/uploads/{'0' * 32}", timeout=30).status_code == 404


def curl_put(url: str, folder: Path, *options: str) -> tuple[int, str]:
    """`curl -X PUT` run in `folder`, as a tool would send a file: the status and the body."""
    curl = shutil.which("curl") or pytest.fail("curl is not on PATH")
    done = subprocess.run(
        [curl, "-sS", "-m", "20", "-w", "\n%{http_code}", "-X", "PUT", *options, url],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr  # answered, not timed out
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


PNG_TYPE = ["-H", "Content-Type: image/png"]


@pytest.mark.parametrize(
    ("case", "options", "refusal"),
    [
        ("as the ticket says", ["--upload-file", "cat.png", *PNG_TYPE], None),
        # --data-binary sends application/x-www-form-urlencoded unless told otherwise.
        (
            "with curl's default content type",
            ["--data-binary", "@cat.png"],
            "SignatureDoesNotMatch",
        ),
        (
            "with another content type",
            ["--upload-file", "cat.png", "-H", "Content-Type: text/plain"],
            "SignatureDoesNotMatch",
        ),
        ("larger", ["--upload-file", "larger.png", *PNG_TYPE], "SignatureDoesNotMatch"),
        (
            "larger, waiting for 100 Continue",
            ["--upload-file", "large.png", *PNG_TYPE, "-H", "Expect: 100-continue"],
            "SignatureDoesNotMatch",
        ),
        ("without the signature", ["--upload-file", "cat.png", *PNG_TYPE], "AccessDenied"),
    ],
)
def test_the_bucket_takes_only_the_upload_its_ticket_names(
    stack: dict[str, str],
    *,
    aws: Callable[[str], Any],
    http: requests.Session,
    created: Created,
    tmp_path: Path,
    case: str,
    options: list[str],
    refusal: str | None,
) -> None:
    api, s3, bucket = stack["ApiEndpoint"], aws("s3"), stack["UploadsBucketName"]
    image = png((64, 64))
    (tmp_path / "cat.png").write_bytes(image)
    (tmp_path / "larger.png").write_bytes(image + b"\0" * 10)
    (tmp_path / "large.png").write_bytes(image + b"\0" * 2**21)
    ticket = http.post(
        f"{api}/uploads",
        json={"filename": "cat.png", "contentType": "image/png", "size": len(image)},
        timeout=30,
    ).json()
    created.objects.append(ticket["key"])
    url = (
        ticket["uploadUrl"].split("?")[0]
        if case == "without the signature"
        else ticket["uploadUrl"]
    )

    status, body = curl_put(url, tmp_path, *options)

    listed = s3.list_objects_v2(Bucket=bucket, Prefix=ticket["key"])
    if refusal is None:
        assert (status, body, listed["KeyCount"]) == (200, "", 1)
    else:
        assert (status, f"<Code>{refusal}</Code>" in body, listed["KeyCount"]) == (403, True, 0)


def test_a_ticket_is_refused_for_a_file_over_the_limit(
    stack: dict[str, str], http: requests.Session
) -> None:
    response = http.post(
        f"{stack['ApiEndpoint']}/uploads",
        json={"filename": "huge.png", "contentType": "image/png", "size": 50 * 2**20 + 1},
        timeout=30,
    )

    assert response.status_code == 400
    assert response.json()["details"][0]["loc"] == ["size"]


def test_the_docs_page_renders_every_operation_in_a_browser(
    stack: dict[str, str], tmp_path: Path
) -> None:
    if os.environ.get("STACK_NAME"):
        pytest.skip("a browser's page load carries no token: open /docs by hand on a stack")
    browser = shutil.which("chromium")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium missing: .ci/run installs Debian's chromium package")
        pytest.skip("needs Debian's chromium package (.ci/run installs it)")

    rendered = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{stack['ApiEndpoint']}/docs",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout

    for path in ("/users", "/users/{userId}", "/orders/{orderId}", "/uploads"):
        assert f'data-path="{path}"' in rendered, path


def test_schemathesis_finds_nothing_against_the_document(stack: dict[str, str]) -> None:
    """Every check schemathesis has, over /openapi.json: no 5xx, responses as documented,
    schema-valid input accepted and invalid input refused, 405 with Allow for other methods,
    media types, stateful links. A fresh seed each run, printed so that a failure can be
    replayed (`--seed`); schemathesis.toml makes no exception, and its hooks give each request
    a key of its own (schemathesis_hooks.py says why)."""
    if os.environ.get("STACK_NAME"):
        pytest.skip("writes generated users; run by hand against a development stack")
    seed = random.SystemRandom().randrange(2**32)
    print(f"schemathesis seed: {seed}")
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(Path(__file__).parent / "schemathesis.toml"),
            "--no-color",
            "run",
            f"{stack['ApiEndpoint']}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "100",
            "--seed",
            str(seed),
            "--generation-database",
            "none",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks"},
    )

    assert run.returncode == 0, f"seed {seed}\n" + run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
