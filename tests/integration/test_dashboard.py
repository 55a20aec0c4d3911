"""The operations dashboard and the alarms (template.yaml) watch metrics that exist: every metric
in the functions' own namespace is one the handlers really emit, with the same name and
dimensions (the handlers run here, moto in-process, and their EMF lines are read); every AWS
metric names a resource of the stack."""

from __future__ import annotations

import json

import pytest

from devtools.template import Evaluator, load_template, resources_of_type
from src.core.metrics import NAMESPACE
from tests.conftest import DeadLetterInbox, LambdaContext
from tests.order_queue import sqs_event
from tests.uploads_bucket import Bucket, png

STACK = "users-service-dev"
TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
# Physical names as CloudFormation would make them: each resource's logical id, prefixed.
PHYSICAL = {
    **{name: f"{STACK}-{name}" for name in RESOURCES},
    **{f"{name}.QueueName": f"{STACK}-{name}" for name in resources_of_type("AWS::SQS::Queue")},
}
EVALUATOR = Evaluator(TEMPLATE, PHYSICAL, stack_name=STACK)

type Metric = tuple[str, str, frozenset[tuple[str, str]]]


def dashboard_metrics() -> set[Metric]:
    body = EVALUATOR.resolve(RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"])
    found = set()
    for widget in json.loads(body)["widgets"]:
        for metric in widget["properties"]["metrics"]:
            namespace, name, *rest = metric
            if rest and isinstance(rest[-1], dict):
                rest = rest[:-1]  # the metric's rendering options
            found.add((namespace, name, frozenset(zip(rest[::2], rest[1::2], strict=True))))
    return found


def alarm_metrics() -> set[Metric]:
    found = set()
    for alarm in resources_of_type("AWS::CloudWatch::Alarm").values():
        dimensions = frozenset(
            (item["Name"], str(EVALUATOR.resolve(item["Value"]))) for item in alarm["Dimensions"]
        )
        found.add((alarm["Namespace"], alarm["MetricName"], dimensions))
    return found


def emitted(output: str) -> set[Metric]:
    """The metrics in the EMF lines of `output`, with their dimension values."""
    found = set()
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                values = frozenset((name, record[name]) for name in dimensions)
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], values))
    return found


@pytest.fixture
def every_outcome(
    orders_table: str,
    order_dlq: DeadLetterInbox,
    metadata_table: str,
    uploads_bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> set[Metric]:
    """Run the order consumer and the upload processor through each of their outcomes."""
    from src.handlers import s3_handler, sqs_handler

    capsys.readouterr()
    created = {"type": "order_created", "orderId": "o-1", "customerId": "c-1"}
    context = LambdaContext(function_name="SqsHandlerFunction")
    # No notification topic exists here: each announced order is also unpublished.
    sqs_handler.handler(sqs_event(created), context)
    sqs_handler.handler(sqs_event(created), context)  # a duplicate
    sqs_handler.handler(sqs_event("not json"), context)  # rejected
    update = {"type": "order_updated", "orderId": "o-2", "updates": {"status": "shipped"}}
    sqs_handler.handler(sqs_event(update), context)  # its order is not there yet: retried
    later = {**created, "orderId": "o-3", "version": 2}
    sqs_handler.handler(sqs_event(later, {**update, "orderId": "o-3", "version": 1}), context)
    bucket = Bucket(uploads_bucket)
    records = [
        bucket.put("uploads/a/rows.json", b"[1, 2]", "application/json"),
        bucket.put("uploads/b/pic.png", png((20, 10)), "image/png"),
        bucket.put("uploads/c/bad.png", b"not a png", "image/png"),
    ]
    records.append(bucket.delete("uploads/a/rows.json"))
    s3_handler.handler({"Records": records}, LambdaContext(function_name="S3HandlerFunction"))
    return emitted(capsys.readouterr().out)


def test_every_metric_of_ours_on_the_dashboard_and_the_alarms_is_emitted(
    every_outcome: set[Metric],
) -> None:
    watched = {metric for metric in dashboard_metrics() | alarm_metrics() if metric[0] == NAMESPACE}

    assert watched - every_outcome == set()
    assert {name for _, name, _ in watched} == {
        "OrderEventsApplied",
        "OrderEventsDuplicate",
        "OrderEventsStale",
        "OrderEventsRetried",
        "OrderEventsRejected",
        "OrderNotificationsUnpublished",
        "UploadsProcessed",
        "UploadsFailed",
        "UploadsRemoved",
    }


def test_every_aws_metric_names_a_resource_of_the_stack() -> None:
    api_name = EVALUATOR.resolve(RESOURCES["Api"]["Properties"]["Name"])
    names = {
        "QueueName": {
            PHYSICAL[f"{name}.QueueName"] for name in resources_of_type("AWS::SQS::Queue")
        },
        "FunctionName": {PHYSICAL[name] for name in resources_of_type("AWS::Serverless::Function")},
        "ApiName": {api_name},
        "Stage": {RESOURCES["Api"]["Properties"]["StageName"]},
    }
    watched = [metric for metric in dashboard_metrics() | alarm_metrics() if metric[0] != NAMESPACE]

    assert {namespace for namespace, _, _ in watched} == {"AWS/ApiGateway", "AWS/SQS", "AWS/Lambda"}
    for namespace, name, dimensions in watched:
        for dimension, value in dimensions:
            assert value in names[dimension], (namespace, name, dimension, value)


def test_the_dashboard_shows_each_part_the_runbook_names() -> None:
    body = EVALUATOR.resolve(RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"])
    titles = [widget["properties"]["title"] for widget in json.loads(body)["widgets"]]

    assert titles == [
        "API requests and errors",
        "API latency (ms)",
        "Order events",
        "Dead-lettered order events: depth and age of the oldest (s)",
        "Uploads",
        "Function errors and throttles",
    ]
