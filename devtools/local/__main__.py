"""`make dev`: run the whole service locally until Ctrl-C.

Ports: LOCAL_API_PORT (3000) for the API, LOCAL_AWS_PORT (4566) for the emulator; with
AWS_ENDPOINT_URL already set, that emulator is used and none is started. The stack outputs, with
local values, go to LOCAL_OUTPUTS_FILE (.aws-sam/local/outputs.json).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from devtools.local.api import make_server, routes_from_template
from devtools.local.functions import ROOT, FunctionPool
from devtools.local.pollers import (
    Poller,
    Sequencer,
    notification_tail,
    queue_consumer,
    s3_notifications,
)
from devtools.resources import (
    STACK,
    create_resources,
    function_environments,
    function_handlers,
    start_moto_server,
    use_emulator_credentials,
)
from devtools.template import Evaluator, load_template

REGION = "us-east-1"
# Shortened locally so a poison message reaches the DLQ (maxReceiveCount receives) in well
# under a minute; deployed, it is the template's 180 s.
LOCAL_VISIBILITY_TIMEOUT = 4
API_CONCURRENCY = 4


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _require_free(port: int, variable: str) -> None:
    if not _port_free(port):
        raise SystemExit(f"port {port} is in use: stop what uses it or set {variable}=<port>")


class LocalStack:
    def __init__(self) -> None:
        self.api_port = int(os.environ.get("LOCAL_API_PORT", "3000"))
        self.aws_port = int(os.environ.get("LOCAL_AWS_PORT", "4566"))
        self.outputs_file = Path(
            os.environ.get("LOCAL_OUTPUTS_FILE", ROOT / ".aws-sam" / "local" / "outputs.json")
        )
        self.stop_event = threading.Event()
        self._emulator: Any = None
        self._pools: dict[str, FunctionPool] = {}
        self._server: Any = None

    def start(self) -> dict[str, str]:
        started = time.perf_counter()
        endpoint = self._start_emulator()
        import boto3  # noqa: PLC0415 - after the environment points at the emulator

        template = load_template()
        physical = create_resources(
            template,
            boto3.client,
            queue_overrides={"VisibilityTimeout": str(LOCAL_VISIBILITY_TIMEOUT)},
        )
        self._start_functions(template, physical, base_env={**os.environ})
        self._start_api(template)
        self._start_event_sources(template, physical, boto3.client("sqs"), boto3.client)
        outputs = self._outputs(template, physical, endpoint)
        self.outputs_file.parent.mkdir(parents=True, exist_ok=True)
        self.outputs_file.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
        print(
            f"local stack ready in {time.perf_counter() - started:.1f} s: "
            f"API {outputs['ApiEndpoint']}, AWS emulator {endpoint} "
            f"(outputs in {self.outputs_file})",
            flush=True,
        )
        return outputs

    def _start_emulator(self) -> str:
        use_emulator_credentials(REGION)
        # The event records the pollers build name this region: the emulator must use it.
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = REGION
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        _require_free(self.api_port, "LOCAL_API_PORT")
        if endpoint:
            return endpoint
        _require_free(self.aws_port, "LOCAL_AWS_PORT")
        self._emulator = start_moto_server(self.aws_port)
        endpoint = f"http://127.0.0.1:{self.aws_port}"
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        return endpoint

    def _start_functions(
        self, template: dict[str, Any], physical: dict[str, str], base_env: dict[str, str]
    ) -> None:
        environments = function_environments(template, physical)
        for name, handler in function_handlers(template).items():
            properties = template["Resources"][name]["Properties"]
            timeout = properties.get("Timeout", template["Globals"]["Function"].get("Timeout", 3))
            self._pools[name] = FunctionPool(
                name,
                handler,
                {**base_env, **environments[name]},
                timeout=float(timeout),
                size=API_CONCURRENCY if name == "ApiFunction" else 1,
            )

    def _start_api(self, template: dict[str, Any]) -> None:
        stage = template["Resources"]["Api"]["Properties"].get("StageName", "local")
        self._server = make_server(
            "127.0.0.1", self.api_port, routes_from_template(template), self._pools, stage
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _start_event_sources(
        self, template: dict[str, Any], physical: dict[str, str], sqs: Any, clients: Any
    ) -> None:
        for name in function_handlers(template):
            properties = template["Resources"][name]["Properties"]
            for event in properties.get("Events", {}).values():
                if event["Type"] == "SQS":
                    queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                    step = queue_consumer(
                        sqs,
                        self._pools[name],
                        queue_url=physical[queue],
                        queue_arn=physical[f"{queue}.Arn"],
                        batch_size=int(event["Properties"].get("BatchSize", 10)),
                        region=REGION,
                    )
                    Poller(f"{name}-{queue}", step, self.stop_event).start()
            s3_events = [e for e in properties.get("Events", {}).values() if e["Type"] == "S3"]
            if s3_events:
                self._wire_bucket(name, properties, s3_events, physical, clients)
        self._tail_notifications(physical, clients)

    def _wire_bucket(
        self,
        function: str,
        properties: dict[str, Any],
        events: list[dict[str, Any]],
        physical: dict[str, str],
        clients: Any,
    ) -> None:
        """S3 notifications go to an internal queue (the emulator can send there), from which
        they reach the function as asynchronous invocations."""
        sqs, s3 = clients("sqs"), clients("s3")
        queue_url = sqs.create_queue(QueueName=f"{STACK}-local-{function}-s3-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        bucket = events[0]["Properties"]["Bucket"]["Ref"]
        s3.put_bucket_notification_configuration(
            Bucket=physical[bucket],
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": _as_list(event["Properties"]["Events"]),
                        "Filter": {
                            "Key": {"FilterRules": event["Properties"]["Filter"]["S3Key"]["Rules"]}
                        },
                    }
                    for event in events
                ]
            },
        )
        invoke_config = properties.get("EventInvokeConfig", {})
        destination = invoke_config.get("DestinationConfig", {}).get("OnFailure", {})
        failure_queue = destination.get("Destination", {}).get("Fn::GetAtt", [None])[0]
        step = s3_notifications(
            sqs,
            queue_url,
            self._pools[function],
            retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
            on_failure_url=physical.get(failure_queue) if failure_queue else None,
            sequencer=Sequencer(),
        )
        Poller(f"{function}-s3", step, self.stop_event).start()

    def _tail_notifications(self, physical: dict[str, str], clients: Any) -> None:
        topic = physical.get("NotificationTopic")
        if not topic:
            return
        sqs = clients("sqs")
        url = sqs.create_queue(QueueName=f"{STACK}-local-notifications")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        clients("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        Poller("notifications", notification_tail(sqs, url), self.stop_event).start()

    def _outputs(
        self, template: dict[str, Any], physical: dict[str, str], endpoint: str
    ) -> dict[str, str]:
        evaluator = Evaluator(template, physical, stack_name=STACK)
        outputs: dict[str, str] = {}
        for name, output in template.get("Outputs", {}).items():
            if "Condition" in output and not evaluator.condition(output["Condition"]):
                continue  # as CloudFormation leaves out an output whose condition is false
            if name == "ApiEndpoint":
                outputs[name] = f"http://127.0.0.1:{self.api_port}"
            else:
                outputs[name] = str(evaluator.resolve(output["Value"]))
        outputs["AwsEndpointUrl"] = endpoint
        return outputs

    def stop(self) -> None:
        self.stop_event.set()
        if self._server is not None:
            self._server.shutdown()
        for pool in self._pools.values():
            pool.stop()
        if self._emulator is not None:
            self._emulator.stop()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def main() -> int:
    stack = LocalStack()
    finished = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: finished.set())
    try:
        stack.start()
        finished.wait()
    finally:
        print("stopping the local stack", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
