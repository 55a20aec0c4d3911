"""The AWS emulator of the local stack: moto in server mode on 127.0.0.1, or another emulator
named by AWS_ENDPOINT_URL (MiniStack, LocalStack), which is then used and not started.

Where it differs from AWS: state lives in memory and ends with the process; moto accepts any
credentials and does not run Lambda itself (the local stack plays Lambda's part).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from devtools.resources import use_emulator_credentials


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def require_free(port: int, variable: str) -> None:
    if not port_free(port):
        raise SystemExit(f"port {port} is in use: stop what uses it or set {variable}=<port>")


def start_moto_server(port: int) -> Any:
    """moto in server mode on 127.0.0.1:`port`, started; stop() it when done."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: PLC0415

    # The emulator's request log would drown everything else.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def start_emulator(port: int, region: str) -> tuple[str, Any]:
    """The emulator's endpoint, and the server started for it (None for one already running).
    This process and the functions' environments then talk to it (AWS_ENDPOINT_URL)."""
    # The emulator's credentials whatever the shell holds; the region the event sources'
    # records name.
    use_emulator_credentials(region, replace=True)
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return endpoint, None
    require_free(port, "LOCAL_AWS_PORT")
    server = start_moto_server(port)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    return endpoint, server
