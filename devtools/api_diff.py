"""Breaking changes in the API's OpenAPI document, against another commit's (main by default):

    python -m devtools.api_diff                # the working tree's document against main's
    python -m devtools.api_diff --base v1.2    # against another commit

The working tree's document is generated from the routes (as `make schemas` writes it); the
base's is its checked-in `docs/openapi.json`. api-smart-diff (devtools/node) classifies each
change. The changes read are those under `paths`, where each schema is seen as a request or a
response (its reports on `components` alone do not know which, and repeat them). Every breaking
one is printed and makes the exit status 1; one it cannot classify (an added link, say) is
printed for review. A base this clone does not hold is an error (exit status 2): the check
would prove nothing. A change that breaks clients goes through an issue first (the contract
changes there).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from devtools.schemas import OPENAPI_FILE, ROOT, openapi_document

NODE_TOOLS = ROOT / "devtools" / "node"


def breaking_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The changes from `before` to `after` under `paths` that can break a client, or that
    api-smart-diff cannot classify (`type` says which)."""
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / "before.json", Path(folder) / "after.json"]
        for path, document in zip(paths, (before, after), strict=True):
            path.write_text(json.dumps(document))
        run = subprocess.run(
            ["node", str(NODE_TOOLS / "breaking.cjs"), *map(str, paths)],
            capture_output=True,
            text=True,
            check=True,
            cwd=NODE_TOOLS,
        )
    changes = [json.loads(line) for line in run.stdout.splitlines()]
    return [change for change in changes if change["path"][:1] == ["paths"]]


class UnreadableBase(Exception):
    """The base commit is not in this clone."""


def base_document(ref: str) -> dict[str, Any] | None:
    """The checked-in document at `ref`; None when that commit has none; UnreadableBase when
    this clone has no such commit."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        check=False,
        cwd=ROOT,
    )
    if found.returncode != 0:
        raise UnreadableBase(ref)
    shown = subprocess.run(
        ["git", "show", f"{ref}:{OPENAPI_FILE.relative_to(ROOT).as_posix()}"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if shown.returncode != 0:
        return None
    document: dict[str, Any] = json.loads(shown.stdout)
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="the commit to compare with (main)")
    arguments = parser.parse_args(argv)
    try:
        before = base_document(arguments.base)
    except UnreadableBase:
        print(
            f"api-diff: no commit {arguments.base!r} in this clone: nothing proves the API "
            f"unbroken (fetch it: git fetch origin {arguments.base}:{arguments.base})"
        )
        return 2
    if before is None:
        print(f"api-diff: {arguments.base} has no {OPENAPI_FILE.name}: nothing to compare with")
        return 0
    changes = breaking_changes(before, openapi_document())
    for change in changes:
        where = " > ".join(str(step) for step in change["path"])
        print(f"{change['type']}: {change['description'] or change['action']} (at {where})")
    breaking = [change for change in changes if change["type"] == "breaking"]
    if breaking:
        print(f"api-diff: {len(breaking)} change(s) against {arguments.base} can break clients")
        return 1
    print(f"api-diff: no breaking change against {arguments.base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
