"""`make acceptance ENV=<env>` drives a deployed stack with the caller's AWS configuration as it
is: a profile's credentials and region (and an endpoint, for an emulator) reach the stack, never
the emulated account's the other tests use. Its first request, the stack's outputs, is
recorded by a server standing in for CloudFormation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from devtools.resources import free_port
from tests.local_stack import ROOT

PROFILE_KEY = "AKIAEXAMPLEPROFILE01"
PROFILE_TOKEN = "profile-session-token"


class CloudFormation(BaseHTTPRequestHandler):
    """Keeps each request's headers; answers that no such stack exists."""

    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append(dict(self.headers.items()))
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>"
            b"<Message>Stack with id users-service-dev does not exist</Message></Error>"
            b"</ErrorResponse>"
        )
        self.send_response(400)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_deployed_mode_sends_the_profiles_credentials_and_region(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), CloudFormation)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "config").write_text("[profile acceptance]\nregion = eu-west-1\n")
    (tmp_path / "credentials").write_text(
        f"[acceptance]\naws_access_key_id = {PROFILE_KEY}\n"
        "aws_secret_access_key = example-secret\n"
        f"aws_session_token = {PROFILE_TOKEN}\n"
    )
    # A shell as a user's: a profile and an endpoint, no key, no region in the environment.
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_PROFILE": "acceptance",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}",
        "STACK_NAME": "users-service-dev",
    }
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-x",
                "tests/integration/test_acceptance.py",
                "-k",
                "lifecycle",
            ],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        server.shutdown()

    assert run.returncode != 0  # no such stack: the suite stops at its outputs
    assert "does not exist" in run.stdout
    first = CloudFormation.seen[0]
    assert f"Credential={PROFILE_KEY}/" in first["Authorization"]
    assert "/eu-west-1/cloudformation/aws4_request" in first["Authorization"]
    assert first["X-Amz-Security-Token"] == PROFILE_TOKEN


def test_make_acceptance_leaves_the_region_to_the_caller_unless_region_is_given() -> None:
    def dry_run(*arguments: str) -> str:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        make = shutil.which("make") or "make"
        return subprocess.run(
            [make, "-n", "acceptance", "ENV=development", *arguments],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert "AWS_REGION" not in dry_run()
    assert "AWS_REGION=eu-central-1" in dry_run("REGION=eu-central-1")
