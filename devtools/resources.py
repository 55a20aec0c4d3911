"""The template's functions and resources in an emulator, for `make invoke` (moto in-process),
`make dev` and `make bench` (moto server): the resources template.yaml declares (tables with
their keys and indexes, queues with their attributes and redrive policies, topics, buckets)
created from the template, and each function's handler and environment as the template gives
them."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from typing import Any

from devtools.template import (
    Evaluator,
    create_table_request,
    declared_variables,
    resources_of_type,
)

# The development stack's name (samconfig.toml), so that names computed from it, like the
# uploads bucket's, match the sample events in events/.
STACK = "users-service-dev"
# Queue attributes an emulator takes as CloudFormation gives them (RedrivePolicy is resolved).
QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")


def create_resources(
    template: dict[str, Any],
    clients: Any,
    *,
    queue_overrides: dict[str, str] | None = None,
) -> dict[str, str]:
    """Create the template's tables, queues, topics and buckets through `clients(service)`;
    return logical id (and "id.Attribute") -> physical name, ARN or URL, as Ref and GetAtt give
    them. `queue_overrides` replaces queue attributes (a shorter visibility timeout locally)."""
    physical: dict[str, str] = {}
    evaluator = Evaluator(template, physical, stack_name=STACK)
    resources = template["Resources"]
    # Queues first, dead-letter queues before the queues that name them.
    order = sorted(resources, key=lambda name: "RedrivePolicy" in _properties(resources[name]))
    for logical_id in order:
        resource = resources[logical_id]
        if "Condition" in resource and not evaluator.condition(resource["Condition"]):
            continue
        properties = _properties(resource)
        match resource["Type"]:
            case "AWS::DynamoDB::Table":
                name = _create_table(clients("dynamodb"), f"{STACK}-{logical_id}", properties)
                physical[logical_id] = name
                physical[f"{logical_id}.Arn"] = table_arn(name)
            case "AWS::SQS::Queue":
                _create_queue(
                    clients("sqs"),
                    logical_id,
                    properties,
                    evaluator=evaluator,
                    physical=physical,
                    overrides=queue_overrides or {},
                )
            case "AWS::SNS::Topic":
                physical[logical_id] = clients("sns").create_topic(Name=f"{STACK}-{logical_id}")[
                    "TopicArn"
                ]
            case "AWS::S3::Bucket":
                name = str(evaluator.resolve(properties.get("BucketName", f"{STACK}-{logical_id}")))
                s3 = clients("s3")
                # A second start against the same emulator finds its bucket there.
                with contextlib.suppress(
                    s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists
                ):
                    s3.create_bucket(Bucket=name.lower())
                physical[logical_id] = name.lower()
                physical[f"{logical_id}.Arn"] = f"arn:aws:s3:::{name.lower()}"
    return physical


def table_arn(name: str, region: str = "us-east-1", account: str = "123456789012") -> str:
    """The ARN of DynamoDB table `name` (what !GetAtt Table.Arn gives)."""
    return f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def _create_table(dynamodb: Any, name: str, properties: dict[str, Any]) -> str:
    """Create table `name`, or take the one a previous start against the same emulator made,
    provided it has the template's keys."""
    request = create_table_request(properties, name)
    try:
        dynamodb.create_table(**request)
    except dynamodb.exceptions.ResourceInUseException:
        existing = dynamodb.describe_table(TableName=name)["Table"]["KeySchema"]
        if existing != request["KeySchema"]:
            raise SystemExit(
                f"table {name} exists in the emulator with other keys than template.yaml "
                "gives it: delete it, or start with a fresh emulator"
            ) from None
        return name
    if properties.get("TimeToLiveSpecification", {}).get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification=properties["TimeToLiveSpecification"]
        )
    return name


def _properties(resource: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def _create_queue(
    sqs: Any,
    logical_id: str,
    properties: dict[str, Any],
    *,
    evaluator: Evaluator,
    physical: dict[str, str],
    overrides: dict[str, str],
) -> None:
    attributes = {name: str(properties[name]) for name in QUEUE_ATTRIBUTES if name in properties}
    if "RedrivePolicy" in properties:
        attributes["RedrivePolicy"] = json.dumps(evaluator.resolve(properties["RedrivePolicy"]))
    attributes.update({k: v for k, v in overrides.items() if k != "RedrivePolicy"})
    name = f"{STACK}-{logical_id}"
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except sqs.exceptions.QueueNameExists:
        # Made by an earlier start against the same emulator, with other attributes.
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    physical[logical_id] = url
    physical[f"{logical_id}.Arn"] = arn["QueueArn"]
    physical[f"{logical_id}.QueueName"] = name


# The key moto, MiniStack and LocalStack all accept (the last two check presigned URLs' keys);
# an emulator's well-known key, not a secret.
EMULATOR_KEY = "test"


def use_emulator_credentials(region: str = "us-east-1", *, replace: bool = False) -> None:
    """Credentials and region for an emulator, unless some are set. With `replace`, whatever
    the shell holds gives way (a session token and a profile too), so that no real account's
    key reaches an emulator and the region is the one the caller's records name."""
    if replace:
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            os.environ.pop(name, None)
    for name, value in {
        "AWS_ACCESS_KEY_ID": EMULATOR_KEY,
        "AWS_SECRET_ACCESS_KEY": EMULATOR_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }.items():
        if replace:
            os.environ[name] = value
        else:
            os.environ.setdefault(name, value)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def function_handlers(template: dict[str, Any]) -> dict[str, str]:
    """Function logical id -> its Handler."""
    return {
        name: properties["Handler"]
        for name, properties in resources_of_type("AWS::Serverless::Function").items()
        if name in template["Resources"]
    }


def function_environments(
    template: dict[str, Any],
    physical: dict[str, str],
    *,
    endpoint: str | None = None,
    s3_endpoint: str | None = None,
    parameters: dict[str, str] | None = None,
    stack_name: str = STACK,
    region: str = "us-east-1",
    account: str = "123456789012",
) -> dict[str, dict[str, str]]:
    """Function logical id -> the environment variables the template gives it (Globals first,
    then its own), resolved against the resources in `physical` (as create_resources made them)
    and the stack's `parameters`. AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_S3, empty in the
    template (AWS's endpoints), are set to `endpoint` and `s3_endpoint`, or left out so that the
    caller's own environment decides."""
    evaluator = Evaluator(
        template,
        physical,
        parameters=parameters,
        stack_name=stack_name,
        region=region,
        account=account,
    )
    environments = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        if "Condition" in resource and not evaluator.condition(resource["Condition"]):
            continue  # not in a stack of these parameters
        variables = {
            variable: str(evaluator.resolve(value))
            for variable, value in declared_variables(template, name).items()
        }
        for variable, value in (
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_ENDPOINT_URL_S3", s3_endpoint),
        ):
            variables.pop(variable, None)
            if value is not None:
                variables[variable] = value
        environments[name] = variables
    return environments
