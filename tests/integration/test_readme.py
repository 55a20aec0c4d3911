"""The command blocks of README.md and docs/, run as a new user runs them: each block on its own,
in a fresh shell (no AWS variables exported) from a directory holding the repository's
environments and documents and what `make dev` writes, against a running local stack. Only the
ports differ: the stack listens on free ones, written into the blocks. Each block is run by one
test: those of a local stack here, those of a deployed stack by the deploy test on a second
emulator, `sam local`'s (containers) checked against its options."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import requests

from tests.command_blocks import (
    IDEMPOTENCY,
    LOCAL,
    ORDERS,
    RUN_BY,
    UPLOADS,
    block,
    command_blocks,
    runner,
)
from tests.local_stack import ROOT, eventually, local_stack

BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)
# A line of the default terminal: a request through the gateway or the front door, a message
# batch, an order notification, and the line Ctrl-C prints.
TERMINAL_LINE = re.compile(
    r"\[api\] [A-Z]+ /\S* -> \d{3} ApiFunction \d+ ms"
    r"|\[s3\] [A-Z]+ /\S* -> \d{3}"
    r"|\[SqsHandlerFunction\] \d+ messages? from \S+: \d+ done( \(\d+ ms\))?"
    r"|\[notification\] \{.*\}"
    r"|stopping the local stack"
)


def test_every_command_block_is_run_by_a_test() -> None:
    blocks = command_blocks()
    runners = {block.key: runner(block) for block in blocks}

    assert len(runners) == len(blocks) == len(RUN_BY)


def quick_start_blocks() -> list[tuple[str, str]]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Quick start") : readme.index("## Architecture")]
    blocks = [(match[1], match[2]) for match in BLOCK.finditer(section)]
    assert blocks[0][1].startswith("make dev")  # the one that starts the stack
    return blocks[1:]


def run(language: str, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = ["bash", "-e", "-o", "pipefail", "-c", code]
    if language == "python":
        command = [sys.executable, "-c", code]  # an interpreter that has boto3
    environment = {"PATH": os.environ["PATH"], "HOME": str(cwd)}
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return result.stdout.splitlines()


def test_the_quick_start_blocks_work_as_written(tmp_path: Path) -> None:
    blocks = quick_start_blocks()
    assert [language for language, _ in blocks] == ["bash", "bash", "python"]
    outputs_file = tmp_path / ".aws-sam" / "local" / "outputs.json"
    outputs_file.parent.mkdir(parents=True)

    with local_stack(tmp_path, LOCAL_OUTPUTS_FILE=str(outputs_file)) as stack:
        aws = stack.outputs["AwsEndpointUrl"]

        def written_for_this_stack(code: str) -> str:
            return code.replace("http://127.0.0.1:3000", stack.api).replace(
                "http://127.0.0.1:4566", aws
            )

        results = [run(lang, written_for_this_stack(code), tmp_path) for lang, code in blocks[:2]]

        def order() -> dict[str, str] | None:
            response = requests.get(f"{stack.api}/orders/ord-1", timeout=30)
            return response.json() if response.status_code == 200 else None

        created = eventually(order, timeout=30)
        cancelled = run(*blocks[2], tmp_path)  # the boto3 block names no port
        final = eventually(lambda: (o := order()) and o["status"] == "cancelled" and o, 30)

    for result in [*results, cancelled]:
        assert result.returncode == 0, result.stderr
    # The terminal: after the ready line, one line per request and per invocation.
    after_ready = "".join(stack.lines).split("local stack ready in ", 1)[1].splitlines()[1:]
    assert after_ready, stack.log
    for line in after_ready:
        assert TERMINAL_LINE.fullmatch(line), line
    assert sum(line.startswith("[api] POST /users -> 201 ") for line in after_ready) == 1
    assert sum(line.startswith("[SqsHandlerFunction] 1 message ") for line in after_ready) == 2
    listed, got, updated, deleted, ticket = (json.loads(line) for line in lines(results[0]))
    assert listed["count"] == 1
    assert got == listed["users"][0]
    assert updated["age"] == 37
    assert deleted == 204
    assert set(ticket) == {"uploadId", "key", "uploadUrl", "headers", "expiresIn"}
    assert created is not None
    assert (created["status"], created["total"]) == ("pending", 31.98)
    assert final
    assert final["cancelReason"] == "changed mind"


def test_the_default_terminal_says_what_the_readme_shows(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    with local_stack(tmp_path) as stack:
        requests.post(
            f"{stack.api}/users", json={"email": "log@example.com", "name": "Log"}, timeout=30
        )
        printed = eventually(lambda: "[api] POST /users -> 201 " in stack.log, 10)

    assert printed, stack.log
    line = next(entry for entry in stack.lines if entry.startswith("[api] POST /users"))
    assert re.fullmatch(r"\[api\] POST /users -> 201 ApiFunction \d+ ms\n", line)
    assert re.search(r"^\[api\] POST /users -> 201 ApiFunction \d+ ms$", readme, re.M)
    assert "RequestId" not in stack.log


def test_the_lambda_log_lines_the_readme_shows_are_the_ones_the_stack_prints(
    tmp_path: Path,
) -> None:
    readme = (ROOT / "README.md").read_text()
    with local_stack(tmp_path, LOCAL_LOG="lambda") as stack:
        requests.post(
            f"{stack.api}/users", json={"email": "log@example.com", "name": "Log"}, timeout=30
        )
        printed = eventually(lambda: "[ApiFunction] REPORT RequestId: " in stack.log, 10)

    assert printed, stack.log
    assert "LOCAL_LOG=lambda make dev" in readme
    for line in ("[ApiFunction] START RequestId: ", "[ApiFunction] END RequestId: "):
        assert line in readme
        assert line in stack.log
    report = next(entry for entry in stack.lines if "REPORT RequestId:" in entry)
    assert re.search(
        r"Duration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 512 MB\t"
        r"Max Memory Used: \d+ MB\tInit Duration: [\d.]+ ms",
        report,
    )


def test_the_local_blocks_of_the_other_sections_work_as_written(tmp_path: Path) -> None:
    # A directory holding what the blocks read: the repository's environments and documents,
    # and what `make dev` writes.
    for name in (".venv", "docs"):
        (tmp_path / name).symlink_to(ROOT / name)
    outputs_file = tmp_path / ".aws-sam" / "local" / "outputs.json"
    outputs_file.parent.mkdir(parents=True)
    blocks = [block(IDEMPOTENCY, "KEY="), block(ORDERS, "echo "), block(UPLOADS, "API=")]
    assert {runner(b) for b in blocks} == {LOCAL}

    with local_stack(tmp_path, LOCAL_OUTPUTS_FILE=str(outputs_file)) as stack:
        idempotent, validated, uploaded = (
            run(b.language, b.code.replace("http://127.0.0.1:3000", stack.api), tmp_path)
            for b in blocks
        )

    for result in (idempotent, validated, uploaded):
        assert result.returncode == 0, result.stderr
    # The create, answered 201 with the user.
    status, *_, body = idempotent.stdout.splitlines()
    assert status.startswith("HTTP/1.1 201")
    assert json.loads(body)["email"] == "grace@example.com"
    # The message is valid: nothing printed, nothing left behind.
    assert validated.stdout == validated.stderr == ""
    # The upload, followed to its result: a 1x1 image, recorded with its size and thumbnail.
    followed = json.loads(uploaded.stdout.splitlines()[-1])
    assert followed["status"] == "processed", followed
    assert (followed["width"], followed["height"], followed["contentType"]) == (1, 1, "image/png")
    assert "thumbnailUrl" in followed
    assert sorted(path.name for path in tmp_path.iterdir()) == [".aws-sam", ".venv", "docs"]
