"""Where a deployed environment lives: its stack name (samconfig.toml) and its outputs."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

SAMCONFIG = Path(__file__).resolve().parent.parent / "samconfig.toml"


def stack_name(environment: str, samconfig: Path = SAMCONFIG) -> str:
    """The stack name samconfig.toml gives `environment` (sam deploy --config-env)."""
    config = tomllib.loads(samconfig.read_text())
    try:
        name: str = config[environment]["global"]["parameters"]["stack_name"]
    except KeyError as exc:
        known = sorted(key for key in config if key != "version")
        raise SystemExit(f"no environment {environment!r} in samconfig.toml: {known}") from exc
    return name


def stack_outputs(cloudformation: Any, name: str) -> dict[str, str]:
    """The outputs of a deployed stack, by key."""
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
