"""The secrets a stack needs that CloudFormation cannot create: SecureString parameters.

    python -m devtools.secrets --env staging     # before `sam deploy` (make deploy runs it)

Each function variable named `*_KEY_PARAMETER` names a SecureString holding a signing key. A
missing one is created with a random key; an existing one is never changed, so deploying
again keeps every cursor clients hold valid. The emulators (`make dev`, `make invoke`, tests)
get theirs the same way.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any

from devtools.stack import stack_name
from devtools.template import Evaluator, function_environment, load_template, resources_of_type

KEY_BYTES = 48  # 64 characters of base64url: comfortably over HMAC-SHA256's 32-byte minimum


def key_parameter_names(template: dict[str, Any], stack: str) -> set[str]:
    """The names of the key parameters the template's functions read, for stack `stack`."""
    evaluator = Evaluator(template, {}, stack_name=stack)
    return {
        str(evaluator.resolve(value))
        for function in resources_of_type("AWS::Serverless::Function")
        for variable, value in function_environment(function).items()
        if variable.endswith("_KEY_PARAMETER")
    }


def ensure_key(ssm: Any, name: str) -> bool:
    """Create SecureString `name` holding a random key unless it exists; True if created."""
    try:
        ssm.put_parameter(
            Name=name,
            Type="SecureString",
            Value=secrets.token_urlsafe(KEY_BYTES),
            Description="Signs the API's page cursors (comma-separated, signing key first)",
            Overwrite=False,
        )
    except ssm.exceptions.ParameterAlreadyExists:
        return False
    return True


def ensure_keys(template: dict[str, Any], stack: str, ssm: Any) -> dict[str, bool]:
    """Every key parameter of `stack`, created where missing: name -> created now."""
    return {name: ensure_key(ssm, name) for name in sorted(key_parameter_names(template, stack))}


def main(argv: list[str] | None = None) -> int:
    import boto3  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment in samconfig.toml")
    parser.add_argument("--region", default=None)
    args = parser.parse_args(argv)
    ssm = boto3.client("ssm", region_name=args.region)
    for name, created in ensure_keys(load_template(), stack_name(args.env), ssm).items():
        print(f"{name}: {'created with a random key' if created else 'exists, left as it is'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
