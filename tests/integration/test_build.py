"""`sam build` (no Docker, no AWS account): lean arm64 artifacts from template.yaml."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.template import resources_of_type

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sam = Path(sys.executable).parent / "sam"
    if not sam.exists():
        pytest.fail("sam CLI missing from the virtualenv: run `make venv`")
    target = tmp_path_factory.mktemp("sam-build")
    env = {
        **os.environ,
        "PATH": f"{sam.parent}{os.pathsep}{os.environ['PATH']}",
        "SAM_CLI_TELEMETRY": "0",
    }
    result = subprocess.run(
        [str(sam), "build", "--build-dir", str(target), "--no-cached"],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(f"sam build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return target


def test_function_artifacts_hold_src_only(build_dir: Path) -> None:
    functions = resources_of_type("AWS::Serverless::Function")
    assert functions
    for logical_id, properties in functions.items():
        artifact = build_dir / logical_id
        assert sorted(path.name for path in artifact.iterdir()) == ["src"], logical_id
        module = properties["Handler"].rsplit(".", 1)[0].replace(".", "/") + ".py"
        assert (artifact / module).exists(), logical_id
        assert not list(artifact.rglob("test*")), logical_id


def test_function_artifacts_ship_bytecode_valid_whatever_the_timestamps(build_dir: Path) -> None:
    # /var/task is read-only: without it, every cold start compiles src/ again.
    for logical_id in resources_of_type("AWS::Serverless::Function"):
        sources = sorted((build_dir / logical_id / "src").rglob("*.py"))
        assert sources, logical_id
        for source in sources:
            (compiled,) = (source.parent / "__pycache__").glob(f"{source.stem}.cpython-313.pyc")
            header = compiled.read_bytes()[:16]
            assert header[:4] == importlib.util.MAGIC_NUMBER, compiled
            # PEP 552 flags: hash-based (bit 0), source not checked (bit 1 clear).
            assert int.from_bytes(header[4:8], "little") == 0b01, compiled


def test_the_layer_holds_the_runtime_requirements_for_aarch64(build_dir: Path) -> None:
    site = build_dir / "DependenciesLayer" / "python"

    for package in (
        "pydantic",
        "pydantic_core",
        "pythonjsonlogger",
        "ijson",
        "PIL",
    ):
        assert (site / package).is_dir(), package
    # boto3 comes with the runtime; dnspython serves only the DNS checks the service turns off.
    for left_out in ("boto3", "botocore", "moto", "pytest", "dns", "bin"):
        assert not (site / left_out).exists(), left_out
    # Sourceless: compiled once at build time, no .py beside the .pyc.
    assert not list(site.rglob("*.py"))
    assert (site / "pydantic" / "__init__.pyc").is_file()
    native = [path for path in site.rglob("*.so*") if path.is_file()]
    assert any(path.name.startswith("_imaging") for path in native)
    assert {path.name: elf_machine(path) for path in native} == {
        path.name: AARCH64 for path in native
    }


AARCH64 = 183  # ELF e_machine of ARM 64-bit
BUDGET_BYTES = 40 * 1000 * 1000


def test_all_artifacts_together_fit_the_budget(build_dir: Path) -> None:
    artifacts = [path for path in build_dir.iterdir() if path.is_dir()]
    total = sum(
        f.stat().st_size for artifact in artifacts for f in artifact.rglob("*") if f.is_file()
    )

    assert total <= BUDGET_BYTES, f"{total / 1e6:.1f} MB"


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


def test_the_built_template_points_at_the_artifacts(build_dir: Path) -> None:
    built = (build_dir / "template.yaml").read_text()

    assert "CodeUri: ApiFunction" in built
    assert "ContentUri: DependenciesLayer" in built


def test_email_validation_needs_no_dnspython() -> None:
    # The layer leaves dnspython out (Makefile): validation must not import it.
    script = (
        "import sys; sys.modules['dns'] = None\n"
        "from src.models.users import normalise_email\n"
        "print(normalise_email('Ada@Example.COM'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ada@example.com"
