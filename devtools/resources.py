"""Create in an emulator the resources template.yaml declares, from the template itself: tables
with their keys and indexes, queues with their attributes and redrive policies, topics and
buckets. Used by `make invoke` (moto in-process) and `make dev` (moto server)."""

from __future__ import annotations

import json
from typing import Any

from devtools.template import Evaluator, create_table_request

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
        properties = _properties(resource)
        match resource["Type"]:
            case "AWS::DynamoDB::Table":
                name = f"{STACK}-{logical_id}"
                clients("dynamodb").create_table(**create_table_request(properties, name))
                if properties.get("TimeToLiveSpecification", {}).get("Enabled"):
                    clients("dynamodb").update_time_to_live(
                        TableName=name,
                        TimeToLiveSpecification=properties["TimeToLiveSpecification"],
                    )
                physical[logical_id] = name
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
                clients("s3").create_bucket(Bucket=name.lower())
                physical[logical_id] = name.lower()
                physical[f"{logical_id}.Arn"] = f"arn:aws:s3:::{name.lower()}"
    return physical


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
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    physical[logical_id] = url
    physical[f"{logical_id}.Arn"] = arn["QueueArn"]
    physical[f"{logical_id}.QueueName"] = name
