"""Live reload for the local stack: a saved change under src/ deploys a new version of every
function (a fresh copy of src/, so invocations in flight finish on the code they started with),
and a change to a function's settings in template.yaml (Handler, Timeout, MemorySize,
Environment) deploys a new version of that function. The emulator and its data are untouched.

Files are watched with watchfiles (inotify where the OS has it). A change that adds, removes or
alters anything else in the template (resources, events, tables) is reported in one line and
waits for a restart, since the emulator's resources were created from the template at start.
"""

from __future__ import annotations

import copy
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import watchfiles

from devtools.local.functions import Version

# A function's properties that a new version can change; anything else needs a restart.
VERSION_PROPERTIES = ("Handler", "Timeout", "MemorySize", "Environment")


class CodeBuilder:
    """Copies of src/, one per version: what a deploy uploads, as the artifact holds it."""

    def __init__(self, source: Path, workdir: Path) -> None:
        self.source = source
        self._root = workdir / "code"
        self._count = 0

    def build(self) -> Path:
        self._count += 1
        task_root = self._root / str(self._count)
        shutil.copytree(
            self.source / "src",
            task_root / "src",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        return task_root


def syntax_errors(paths: Iterable[Path]) -> list[str]:
    """What Python says of each file that does not compile (before any function imports it)."""
    errors = []
    for path in paths:
        if path.suffix != ".py" or not path.exists():
            continue
        try:
            compile(path.read_bytes(), str(path), "exec")
        except SyntaxError as exc:
            errors.append(f"{path}:{exc.lineno}: SyntaxError: {exc.msg}")
    return errors


def needs_restart(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether two templates differ in more than their functions' version properties."""
    return _without_version_properties(before) != _without_version_properties(after)


def _without_version_properties(template: dict[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(template)
    for properties in (
        stripped.get("Globals", {}).get("Function", {}),
        *(
            resource.get("Properties", {})
            for resource in stripped.get("Resources", {}).values()
            if resource.get("Type") == "AWS::Serverless::Function"
        ),
    ):
        for name in VERSION_PROPERTIES:
            properties.pop(name, None)
    return stripped


def new_version(current: Version, wanted: Version) -> Version | None:
    """The version that brings `current` to the template's `wanted` settings; None when they
    already agree."""
    changes = {
        name: getattr(wanted, name)
        for name in ("handler", "variables", "timeout", "memory")
        if getattr(current, name) != getattr(wanted, name)
    }
    return current.next(**changes) if changes else None


def watch(
    paths: list[Path],
    on_change: Callable[[list[Path]], None],
    stop: threading.Event,
    *,
    recursive: bool = True,
    only: Callable[[Path], bool] = lambda _: True,
) -> threading.Thread:
    """Call `on_change` with the changed paths after each burst of saves, until `stop`."""

    def run() -> None:
        for changes in watchfiles.watch(
            *paths, stop_event=stop, recursive=recursive, raise_interrupt=False
        ):
            # An editor's temporary files come and go within one burst: left out.
            changed = sorted(
                {
                    Path(path)
                    for _, path in changes
                    if only(Path(path)) and (Path(path).exists() or path.endswith(".py"))
                }
            )
            if changed:
                try:
                    on_change(changed)
                except Exception as exc:  # a failed reload must not stop the watcher
                    print(f"[reload] failed: {type(exc).__name__}: {exc}", flush=True)

    thread = threading.Thread(target=run, name="reload", daemon=True)
    thread.start()
    return thread
