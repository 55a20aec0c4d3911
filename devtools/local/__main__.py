"""`make dev`: run the whole service locally until Ctrl-C.

Ports: LOCAL_API_PORT (3000) for the API, LOCAL_AWS_PORT (4566) for the emulator, LOCAL_S3_PORT
(4570) for S3's front door (s3.py: signatures checked as S3 checks them); with
AWS_ENDPOINT_URL already set, that emulator is used and none is started. The stack outputs, with
local values, go to LOCAL_OUTPUTS_FILE (.aws-sam/local/outputs.json).
LOCAL_IAM_USAGE_FILE, when set, receives at stop the grants of the functions' roles that their
calls used (devtools/iam.py, the tests' least-privilege report).
Modes: LOCAL_SNAPSTART=1 (or 0) turns SnapStart on (or off) for every function, whatever the
template says; LOCAL_DEBUG_PORT=<port> makes LOCAL_DEBUG_FUNCTION's (ApiFunction's)
invocations wait for a debugpy client there. LOCAL_CODE_DIR names the directory whose src/
the functions run and reload from (the repository's by default).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.credentials import Credentials

from devtools.env_vars import write as write_env_vars
from devtools.iam import Roles, roles_from_template
from devtools.local.api import make_server, routes_from_template, token_trigger
from devtools.local.emulator import require_free, role_credentials, start_emulator
from devtools.local.event_sources import (
    Poller,
    Redrive,
    Sequencer,
    notification_tail,
    queue_consumer,
    s3_notifications,
)
from devtools.local.functions import (
    ROOT,
    FunctionPool,
    InvocationError,
    Modes,
    versions_from_template,
)
from devtools.local.reload import CodeBuilder, needs_restart, new_version, syntax_errors, watch
from devtools.local.s3 import make_s3_front
from devtools.local.terminal import log_mode
from devtools.resources import (
    STACK,
    create_resources,
    function_environments,
    function_handlers,
)
from devtools.runtime import runtime_python
from devtools.template import TEMPLATE_PATH, Evaluator, load_template

REGION = "us-east-1"
# Shortened locally so a poison message reaches the DLQ (maxReceiveCount receives) in well
# under a minute; deployed, it is the template's 180 s.
LOCAL_VISIBILITY_TIMEOUT = 4
API_CONCURRENCY = 4


class LocalStack:
    def __init__(self) -> None:
        self.api_port = int(os.environ.get("LOCAL_API_PORT", "3000"))
        self.aws_port = int(os.environ.get("LOCAL_AWS_PORT", "4566"))
        self.s3_port = int(os.environ.get("LOCAL_S3_PORT", "4570"))
        self.outputs_file = Path(
            os.environ.get("LOCAL_OUTPUTS_FILE", ROOT / ".aws-sam" / "local" / "outputs.json")
        )
        self.source = Path(os.environ.get("LOCAL_CODE_DIR", ROOT)).resolve()
        self.stop_event = threading.Event()
        self._workdir = Path(tempfile.mkdtemp(prefix="local-stack-"))
        self._builder = CodeBuilder(self.source, self._workdir)
        self._modes = self._modes_from_environment()
        self._emulator: Any = None
        self._pools: dict[str, FunctionPool] = {}
        self._server: Any = None
        self._s3_front: Any = None
        self._template: dict[str, Any] = {}
        self._physical: dict[str, str] = {}
        # Function -> its role's credentials, when the emulator is ours and checks roles.
        self._credentials: dict[str, Credentials] | None = None
        self._deploying = threading.Lock()

    def _modes_from_environment(self) -> Modes:
        snapstart = os.environ.get("LOCAL_SNAPSTART")
        port = os.environ.get("LOCAL_DEBUG_PORT")
        debug_paths: tuple[Path, ...] = ()
        if port:
            # debugpy alone, from the dev venv: the only package a debugged worker gains.
            spec = importlib.util.find_spec("debugpy")
            assert spec is not None
            assert spec.submodule_search_locations
            debug_paths = (self._workdir / "debug",)
            debug_paths[0].mkdir()
            (debug_paths[0] / "debugpy").symlink_to(spec.submodule_search_locations[0])
        return Modes(
            log_mode=log_mode(),
            snapstart=None if snapstart in (None, "") else snapstart == "1",
            debug_port=int(port) if port else None,
            debug_function=os.environ.get("LOCAL_DEBUG_FUNCTION", "ApiFunction"),
            debug_paths=debug_paths,
            source=self.source,
        )

    def start(self) -> dict[str, str]:
        started = time.perf_counter()
        runtime_python()  # says how to build the runtime environment when it is missing
        require_free(self.api_port, "LOCAL_API_PORT")
        require_free(self.s3_port, "LOCAL_S3_PORT")
        endpoint, self._emulator = start_emulator(self.aws_port, REGION)
        template = self._template = load_template.__wrapped__(TEMPLATE_PATH)
        if self._emulator is not None:
            self._credentials = role_credentials(function_handlers(template))
        s3_endpoint = self._start_s3_front(endpoint)
        import boto3  # noqa: PLC0415 - after the environment points at the emulator

        physical = self._physical = create_resources(
            template,
            boto3.client,
            queue_overrides={"VisibilityTimeout": str(LOCAL_VISIBILITY_TIMEOUT)},
        )
        if self._emulator is not None and self._credentials is not None:
            self._emulator.gate.use_roles(
                roles_from_template(template, physical, stack_name=STACK, region=REGION),
                {role.access_key: name for name, role in self._credentials.items()},
            )
        self._start_functions(template, physical)
        self._publish()
        self._start_api(template)
        self._start_event_sources(template, physical, boto3.client("sqs"), boto3.client)
        self._start_reload()
        self._prewarm_debugged()
        outputs = self._outputs(template, physical, endpoint, s3_endpoint)
        # sam local's functions run in containers: LOCAL_CONTAINER_ENDPOINT is the emulator's
        # URL as they reach it (the same with `--docker-network host`), and S3's front door is
        # on the same host.
        container_endpoint = os.environ.get("LOCAL_CONTAINER_ENDPOINT", endpoint)
        container_host = urlsplit(container_endpoint).hostname
        write_env_vars(
            self.outputs_file.parent / "env.json",
            function_environments(
                template,
                physical,
                endpoint=container_endpoint,
                s3_endpoint=f"http://{container_host}:{self.s3_port}",
            ),
        )
        self.outputs_file.parent.mkdir(parents=True, exist_ok=True)
        self.outputs_file.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
        print(
            f"local stack ready in {time.perf_counter() - started:.1f} s: "
            f"API {outputs['ApiEndpoint']}, AWS emulator {endpoint}, S3 {s3_endpoint} "
            f"(outputs in {self.outputs_file})",
            flush=True,
        )
        self._announce_modes()
        return outputs

    def _announce_modes(self) -> None:
        for name, pool in self._pools.items():
            version = pool.version
            if version.debug_port is not None:
                print(
                    f"[{name}] invocations wait for a debugger on 127.0.0.1:{version.debug_port}"
                    " (no timeout while debugging)",
                    flush=True,
                )

    def _start_functions(self, template: dict[str, Any], physical: dict[str, str]) -> None:
        versions = versions_from_template(
            template,
            physical,
            self._builder.build(),
            self._modes,
            credentials=self._credentials,
        )
        for name, version in versions.items():
            # One environment of a function being debugged: one process listens on the port.
            size = API_CONCURRENCY if name == "ApiFunction" else 1
            self._pools[name] = FunctionPool(
                version, size=1 if version.debug_port is not None else size
            )

    def _start_reload(self) -> None:
        watch([self.source / "src"], self._code_changed, self.stop_event)
        watch(
            [TEMPLATE_PATH.parent],
            self._template_changed,
            self.stop_event,
            recursive=False,
            only=lambda path: path.name == TEMPLATE_PATH.name,
        )

    def _code_changed(self, paths: list[Path]) -> None:
        for error in syntax_errors(paths):
            print(f"[reload] {error}", flush=True)
        task_root = self._builder.build()
        with self._deploying:
            for pool in self._pools.values():
                pool.deploy(pool.version.next(task_root=task_root))
        threading.Thread(target=self._publish, daemon=True).start()
        self._prewarm_debugged()
        names = ", ".join(str(path.relative_to(self.source)) for path in paths)
        print(f"[reload] {names} changed: new invocations run the new code", flush=True)

    def _template_changed(self, _: list[Path]) -> None:
        try:
            template = load_template.__wrapped__(TEMPLATE_PATH)
            if needs_restart(self._template, template):
                raise LookupError("resources or events changed")
            versions = versions_from_template(
                template, self._physical, Path(), self._modes, credentials=self._credentials
            )
        except Exception as exc:
            print(
                f"[reload] template.yaml: {type(exc).__name__}: {exc}. Only a function's "
                "Handler, Timeout, MemorySize and Environment reload: restart make dev to "
                "apply the rest",
                flush=True,
            )
            return
        with self._deploying:
            for name, pool in self._pools.items():
                version = new_version(pool.version, versions[name])
                if version is not None:
                    pool.deploy(version)
                    print(f"[reload] template.yaml: {name} has a new version", flush=True)
            self._template = template
        threading.Thread(target=self._publish, daemon=True).start()
        self._prewarm_debugged()

    def _publish(self) -> None:
        """Take the snapshots of the SnapStart functions' current versions, side by side, as
        Lambda takes them when it publishes a version; a failed init is told and left for the
        invocations to meet."""
        pools = [pool for pool in self._pools.values() if pool.version.snapstart]
        if not pools:
            return
        names = ", ".join(pool.function for pool in pools)
        print(f"SnapStart: taking the snapshots of {names} (init once each)", flush=True)

        def take(pool: FunctionPool) -> None:
            try:
                pool.publish()
            except InvocationError as exc:
                print(f"[{pool.function}] no snapshot: its init failed: {exc}", flush=True)

        threads = [threading.Thread(target=take, args=(pool,), daemon=True) for pool in pools]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _prewarm_debugged(self) -> None:
        """The debugged function's environment starts at once, so a debugger can attach before
        the first invocation."""
        for pool in self._pools.values():
            if pool.version.debug_port is not None:
                threading.Thread(target=pool.prewarm, daemon=True).start()

    def _start_s3_front(self, endpoint: str) -> str:
        """S3's front door before the emulator: the functions' S3 endpoint, so the URLs they
        presign point at it."""
        own = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
        keys = {own.access_key: own}
        keys.update({role.access_key: role for role in (self._credentials or {}).values()})
        self._s3_front = make_s3_front(self.s3_port, endpoint, keys)
        threading.Thread(target=self._s3_front.serve_forever, daemon=True).start()
        s3_endpoint = f"http://127.0.0.1:{self.s3_port}"
        os.environ["AWS_ENDPOINT_URL_S3"] = s3_endpoint
        return s3_endpoint

    def _start_api(self, template: dict[str, Any]) -> None:
        stage = template["Resources"]["Api"]["Properties"].get("StageName", "local")
        self._server = make_server(
            "127.0.0.1",
            self.api_port,
            routes_from_template(template),
            self._pools,
            stage,
            trigger=token_trigger(template),
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
                        self._role_client(name, "sqs", clients) or sqs,
                        self._pools[name],
                        queue_url=physical[queue],
                        queue_arn=physical[f"{queue}.Arn"],
                        batch_size=int(event["Properties"].get("BatchSize", 10)),
                        region=REGION,
                        redrive=Redrive.of(sqs, physical[queue]),
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
            on_failure_sqs=self._role_client(function, "sqs", clients),
        )
        Poller(f"{function}-s3", step, self.stop_event).start()

    def _role_client(self, function: str, service: str, clients: Any) -> Any:
        """A client acting with `function`'s role, as Lambda's event source mappings and
        on-failure destinations do (None when roles are not checked)."""
        if self._credentials is None:
            return None
        role = self._credentials[function]
        return clients(
            service,
            aws_access_key_id=role.access_key,
            aws_secret_access_key=role.secret_key,
            aws_session_token=role.token,
        )

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
        self, template: dict[str, Any], physical: dict[str, str], endpoint: str, s3_endpoint: str
    ) -> dict[str, str]:
        evaluator = Evaluator(template, physical, stack_name=STACK)
        outputs: dict[str, str] = {}
        for name, output in template.get("Outputs", {}).items():
            if "Condition" in output and not evaluator.condition(output["Condition"]):
                continue  # as CloudFormation leaves out an output whose condition is false
            if name == "ApiEndpoint":
                outputs[name] = f"http://127.0.0.1:{self.api_port}"
                continue
            try:
                outputs[name] = str(evaluator.resolve(output["Value"]))
            except KeyError:
                continue  # a resource the local stack has no emulation of (the user pool)
        outputs["AwsEndpointUrl"] = endpoint
        outputs["S3EndpointUrl"] = s3_endpoint
        return outputs

    def stop(self) -> None:
        self.stop_event.set()
        for server in (self._server, self._s3_front):
            if server is not None:
                server.shutdown()
        for pool in self._pools.values():
            pool.stop()
        if self._emulator is not None:
            self._emulator.stop()
            self._write_iam_usage(self._emulator.gate.roles)
        shutil.rmtree(self._workdir, ignore_errors=True)

    @staticmethod
    def _write_iam_usage(roles: Roles | None) -> None:
        usage_file = os.environ.get("LOCAL_IAM_USAGE_FILE")
        if usage_file and roles is not None:
            Path(usage_file).write_text(json.dumps(roles.usage()))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def main() -> int:
    try:
        log_mode()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
