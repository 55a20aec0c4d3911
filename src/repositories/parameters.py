"""Secrets in SSM Parameter Store, read through Powertools Parameters.

The value is fetched on first use (not at cold start, and not by requests that never need it),
then cached for `max_age` seconds, so a rotated value reaches every execution environment
within that time without a call per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from src.core.errors import ServiceMisconfigured

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

DEFAULT_MAX_AGE_SECONDS = 300
# HMAC-SHA256 keys shorter than its 32-byte output weaken it.
MIN_KEY_LENGTH = 32


class SecureStringKeys:
    """Keys held in one SecureString parameter, comma-separated, the signing key first."""

    def __init__(
        self,
        client: Callable[[], SSMClient],
        name: str,
        *,
        max_age: int = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        self._client = client
        self._name = name
        self._max_age = max_age
        self._provider: Any = None

    def __call__(self) -> list[bytes]:
        if self._provider is None:
            # Powertools' parameters module costs import time only the paths that page pay.
            from aws_lambda_powertools.utilities.parameters import SSMProvider  # noqa: PLC0415

            self._provider = SSMProvider(boto3_client=self._client())
        value = self._provider.get(self._name, decrypt=True, max_age=self._max_age)
        keys = [key.strip().encode() for key in str(value).split(",") if key.strip()]
        if not keys or any(len(key) < MIN_KEY_LENGTH for key in keys):
            raise ServiceMisconfigured(
                f"parameter {self._name} must hold keys of at least {MIN_KEY_LENGTH} characters"
            )
        return keys
