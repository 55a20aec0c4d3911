"""The `--env-vars` file of `sam local start-api` and `sam local invoke`: per function logical
id, the variables template.yaml gives it, resolved to the names of real resources.

`make dev` writes one for its emulator (.aws-sam/local/env.json, with AWS_ENDPOINT_URL the
emulator's URL). For a deployed stack, `make env-vars ENV=development` (this module) writes
.aws-sam/env-development.json from the stack's outputs and parameters, leaving the endpoints
AWS's: `sam local` then runs the functions against that stack's tables, queue and bucket.
SAM only overrides variables the template declares, which is why AWS_ENDPOINT_URL is declared
there (empty).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from devtools.resources import function_environments
from devtools.stack import stack_name
from devtools.template import load_template

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, environments: dict[str, dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(environments, indent=2, sort_keys=True) + "\n")


def deployed_physical(template: dict[str, Any], stack: dict[str, Any]) -> dict[str, str]:
    """Logical id -> physical name of each resource a template output gives by Ref."""
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    physical = {}
    for name, output in template.get("Outputs", {}).items():
        value = output["Value"]
        if isinstance(value, dict) and set(value) == {"Ref"} and name in outputs:
            physical[value["Ref"]] = outputs[name]
    return physical


def deployed_env_vars(
    template: dict[str, Any], cloudformation: Any, name: str
) -> dict[str, dict[str, str]]:
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
    # arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>
    region, account = stack["StackId"].split(":")[3:5]
    try:
        return function_environments(
            template,
            deployed_physical(template, stack),
            parameters=parameters,
            stack_name=name,
            region=region,
            account=account,
        )
    except KeyError as exc:
        raise SystemExit(f"stack {name} has no output naming {exc}: deploy it again") from exc


def main(argv: list[str] | None = None) -> int:
    import boto3  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment in samconfig.toml")
    parser.add_argument("--region", default=None)
    args = parser.parse_args(argv)
    name = stack_name(args.env)
    cloudformation = boto3.client("cloudformation", region_name=args.region)
    target = ROOT / ".aws-sam" / f"env-{args.env}.json"
    try:
        environments = deployed_env_vars(load_template(), cloudformation, name)
    except (BotoCoreError, ClientError) as exc:
        raise SystemExit(f"cannot read stack {name}: {exc}") from exc
    write(target, environments)
    print(f"{target.relative_to(ROOT)}: the variables of stack {name}'s functions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
