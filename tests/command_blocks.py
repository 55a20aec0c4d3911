"""The command blocks of README.md and docs/*.md, each with the section it stands in and the
test that runs it: tests/integration/test_readme.py (a local stack),
tests/integration/test_ministack_deploy.py (a deployed stack), or where it cannot run here."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from tests.local_stack import ROOT

FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.S | re.M)
# Each command block, by its section's heading and its first line, and where it runs.
LOCAL, DEPLOYED, CONTAINERS = "local stack", "deployed stack", "containers"
# The deploy itself: the MiniStack deploy test runs `sam build` and `sam deploy --config-env
# development` as these blocks do, on its copy adapted to MiniStack's gaps.
DEPLOY = "the deploy of the MiniStack deploy test"
CI = "the CI run (.ci/run runs make test; the tests start make dev's stack)"
QUICK_START = "## Quick start: the whole service locally"
IDEMPOTENCY = "### Retrying a create safely: `Idempotency-Key`"
AUTHENTICATION = "## Signing in to a deployed stack"
ORDERS = "# Orders: the queue contract"
UPLOADS = "# Uploads"
DEPLOYING = "# Deploying per environment"
START = "## Start here"
SAM_LOCAL = "## `sam local` (where Docker runs)"
RUN_BY = {
    (START, "make dev"): CI,
    (QUICK_START, "make dev"): LOCAL,
    (QUICK_START, "API=http://127.0.0.1:3000"): LOCAL,
    (QUICK_START, "ENDPOINT=http://127.0.0.1:4566"): LOCAL,
    (QUICK_START, "import json, boto3"): LOCAL,
    (SAM_LOCAL, ".venv/bin/sam build"): CONTAINERS,
    ("## Deploying", "make deploy ENV=development"): DEPLOY,
    (IDEMPOTENCY, "KEY=$(python3 -c 'import uuid; print(uuid.uuid4())')"): LOCAL,
    (AUTHENTICATION, "STACK=users-service-dev"): DEPLOYED,
    (AUTHENTICATION, "USER_ID=$("): DEPLOYED,
    (ORDERS, "echo "): LOCAL,
    (ORDERS, "STACK=users-service-dev"): DEPLOYED,
    (UPLOADS, "API=http://127.0.0.1:3000"): LOCAL,
    (DEPLOYING, "make deploy ENV=development"): DEPLOY,
    (DEPLOYING, "make build"): DEPLOY,
}


@dataclass(frozen=True)
class Block:
    document: str
    section: str
    language: str
    code: str

    @property
    def key(self) -> tuple[str, str]:
        return self.section, self.code.splitlines()[0]


def command_blocks() -> list[Block]:
    """Every bash and python block of README.md and docs/*.md, with its section's heading."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for match in FENCE.finditer(text):
            if match[2] not in ("bash", "python"):
                continue
            outside = FENCE.sub("", text[: match.start()])  # a comment in a block is no heading
            heading = re.findall(r"^#{1,3} .*$", outside, re.M)[-1]
            found.append(Block(path.name, heading, match[2], textwrap.dedent(match[3])))
    return found


def runner(block: Block) -> str:
    """Where `block` runs: the RUN_BY entry of its section whose line begins its first line."""
    section, first = block.key
    (found,) = [
        where for (s, start), where in RUN_BY.items() if s == section and first.startswith(start)
    ]
    return found


def block(section: str, start: str) -> Block:
    (found,) = [b for b in command_blocks() if b.key[0] == section and b.key[1].startswith(start)]
    return found
