"""What AWS refuses, the local stack refuses too, tried as users run it (`python -m
devtools.local`, what `make dev` runs): a call a function's role does not grant, concurrent
clients racing for one email, and a dependency that stops answering."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from devtools.local.emulator import role_credentials
from devtools.resources import free_port
from tests.local_stack import ROOT, RunningStack, eventually, local_stack

pytestmark = pytest.mark.long


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with local_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


def test_a_call_the_role_does_not_grant_is_refused_and_named(stack: RunningStack) -> None:
    # Given the upload processor's own credentials, as its execution environments hold them
    role = role_credentials(["S3HandlerFunction"])["S3HandlerFunction"]
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.outputs["AwsEndpointUrl"],
        region_name="us-east-1",
        aws_access_key_id=role.access_key,
        aws_secret_access_key=role.secret_key,
        aws_session_token=role.token,
    )
    table = stack.outputs["UsersTableName"]
    # When it reads the users table, which its role does not name
    with pytest.raises(ClientError) as refused:
        dynamodb.scan(TableName=table)
    # Then DynamoDB's refusal names the action and the resource, and so does the terminal
    message = (
        "User: arn:aws:sts::123456789012:assumed-role/S3HandlerFunctionRole/S3HandlerFunction "
        "is not authorized to perform: dynamodb:Scan on resource: "
        f"arn:aws:dynamodb:us-east-1:123456789012:table/{table} because no identity-based "
        "policy allows the dynamodb:Scan action"
    )
    assert refused.value.response["Error"] == {"Code": "AccessDeniedException", "Message": message}
    assert eventually(lambda: f"[iam] S3HandlerFunction: access denied: {message}" in stack.log)


def test_concurrent_creates_of_one_email_give_one_201_and_the_rest_409(
    stack: RunningStack,
) -> None:
    statuses: list[list[int]] = []
    with requests.Session() as session, ThreadPoolExecutor(20) as pool:
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=20))
        for round_number in range(20):
            email = f"race-{round_number}-{uuid.uuid4().hex[:6]}@example.com"
            body = {"email": email, "name": "Racer"}
            answers = list(
                pool.map(
                    lambda same: session.post(f"{stack.api}/users", json=same, timeout=30),
                    [body] * 20,
                )
            )
            statuses.append(sorted(answer.status_code for answer in answers))
    assert statuses == [[201] + [409] * 19] * 20


def test_concurrent_clients_get_no_5xx_and_every_created_user_is_readable(
    stack: RunningStack,
) -> None:
    def client(number: int) -> list[tuple[int, str | None]]:
        made = []
        with requests.Session() as session:
            for attempt in range(15):
                email = f"client-{number}-{attempt}-{uuid.uuid4().hex[:6]}@example.com"
                answer = session.post(
                    f"{stack.api}/users", json={"email": email, "name": "C"}, timeout=30
                )
                made.append((answer.status_code, answer.json().get("userId")))
                session.get(f"{stack.api}/users?limit=5", timeout=30).raise_for_status()
        return made

    with ThreadPoolExecutor(16) as pool:
        created = [outcome for outcomes in pool.map(client, range(16)) for outcome in outcomes]

    assert [status for status, _ in created] == [201] * len(created)
    for _, user_id in created:
        assert requests.get(f"{stack.api}/users/{user_id}", timeout=30).status_code == 200
    assert " -> 5" not in stack.log


@pytest.fixture
def own_emulator() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """An emulator in a process of its own, which a test can stop (SIGSTOP) and resume."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.local.emulator", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def listening() -> bool:
        try:
            return requests.get(f"{endpoint}/moto-api/", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        assert eventually(listening, timeout=30, interval=0.2)
        yield endpoint, process
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=30)


def test_a_hung_dependency_gets_503_with_retry_after_not_the_gateways_502(
    tmp_path: Path, own_emulator: tuple[str, subprocess.Popen[bytes]]
) -> None:
    endpoint, emulator = own_emulator
    with local_stack(tmp_path, AWS_ENDPOINT_URL=endpoint) as stack:
        created = requests.post(
            f"{stack.api}/users", json={"email": "before@example.com", "name": "B"}, timeout=30
        )
        assert created.status_code == 201
        # Given the emulator stopped: connections open, nothing answers
        os.kill(emulator.pid, signal.SIGSTOP)
        try:
            # When a client creates a user
            answer = requests.post(
                f"{stack.api}/users", json={"email": "during@example.com", "name": "D"}, timeout=60
            )
        finally:
            os.kill(emulator.pid, signal.SIGCONT)
        # Then the API answers within its timeout, with the documented 503
        assert answer.status_code == 503, (answer.status_code, answer.text, stack.log[-3000:])
        assert answer.headers["Retry-After"] == "1"
        assert json.loads(answer.text)["error"] == "service temporarily unavailable; retry later"


def test_an_upload_that_fails_every_attempt_reaches_the_failure_queue_with_the_role(
    tmp_path: Path,
) -> None:
    # Given an upload processor that fails every invocation (a copy of src/ whose handler
    # raises), run as the template runs it: two retries, then the on-failure destination, sent
    # with the function's own role
    code = tmp_path / "code"
    shutil.copytree(ROOT / "src", code / "src", ignore=shutil.ignore_patterns("__pycache__"))
    handler = code / "src" / "handlers" / "s3_handler.py"
    handler.write_text(
        handler.read_text()
        + "\n\ndef handler(event: dict[str, Any], context: Any) -> dict[str, Any]:\n"
        + "    raise RuntimeError('the processor is down')\n"
    )
    with local_stack(tmp_path, LOCAL_CODE_DIR=str(code)) as stack:
        emulator = {"endpoint_url": stack.outputs["AwsEndpointUrl"], "region_name": "us-east-1"}
        key = f"uploads/{uuid.uuid4().hex}/a.json"
        boto3.client("s3", **emulator).put_object(
            Bucket=stack.outputs["UploadsBucketName"], Key=key, Body=b"[1]"
        )
        sqs = boto3.client("sqs", **emulator)
        queue = sqs.get_queue_url(QueueName="users-service-dev-UploadFailureQueue")["QueueUrl"]

        def failed() -> list[dict[str, object]]:
            received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)
            return [json.loads(message["Body"]) for message in received.get("Messages", [])]

        # When its event has failed every attempt
        records = eventually(failed, timeout=60)
    # Then Lambda's record of it is in the failure queue, and no call was refused
    assert records, stack.log[-3000:]
    (record,) = records
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert unquote_plus(record["requestPayload"]["Records"][0]["s3"]["object"]["key"]) == key
    assert "[iam]" not in stack.log


def test_an_upload_named_with_reserved_characters_is_authorised_by_its_own_key(
    stack: RunningStack,
) -> None:
    # Given a ticket for a file whose name holds characters a URL escapes
    body = b'[{"a": 1}]'
    ticket = requests.post(
        f"{stack.api}/uploads",
        json={"filename": "what?%ü.json", "contentType": "application/json", "size": len(body)},
        timeout=30,
    )
    assert ticket.status_code == 201, ticket.text
    # When the file is put through its presigned URL, which the API's role signs
    put = requests.put(
        ticket.json()["uploadUrl"], data=body, headers=ticket.json()["headers"], timeout=30
    )
    # Then the role's grant on uploads/* allows it, and the upload is processed
    assert put.status_code == 200, (put.text, stack.log[-2000:])

    def status() -> str | None:
        answer = requests.get(f"{stack.api}/uploads/{ticket.json()['uploadId']}", timeout=30)
        return str(answer.json()["status"]) if answer.json()["status"] != "pending" else None

    assert eventually(status) == "processed"
    assert "[iam] ApiFunction" not in stack.log
