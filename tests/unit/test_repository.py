"""What the repository holds: no environment or package folder, whatever form it takes in a
checkout (a directory, or a symlink to one in another checkout, as a second worktree has)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ONLY = [
    ".venv",
    ".venv-tools",
    ".venv-runtime",
    ".venv-ministack",
    ".uv",
    "devtools/node/node_modules",
]


GIT = shutil.which("git") or "git"


def git(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GIT, *arguments], cwd=folder, capture_output=True, text=True, check=True)


@pytest.mark.parametrize("form", ["folder", "link"])
def test_an_environment_is_never_added(tmp_path: Path, form: str) -> None:
    git(tmp_path, "init", "--quiet")
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (elsewhere / "python").write_text("")
    for path in LOCAL_ONLY:
        place = tmp_path / path
        place.parent.mkdir(parents=True, exist_ok=True)
        if form == "link":
            place.symlink_to(elsewhere)
        else:
            place.mkdir()
            (place / "python").write_text("")

    git(tmp_path, "add", "--all")

    assert git(tmp_path, "ls-files").stdout.splitlines() == [".gitignore"]


def test_no_environment_is_tracked() -> None:
    tracked = git(ROOT, "ls-files").stdout.splitlines()

    assert [
        name
        for name in tracked
        if any(name == path or name.startswith(f"{path}/") for path in LOCAL_ONLY)
    ] == []
