"""Typed settings, read once from the environment when a handler module is imported.

Each function declares the settings it needs; a missing or invalid variable fails the cold start
with a message naming the variable, instead of failing later inside a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError

Environment = Literal["development", "staging", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class ConfigurationError(RuntimeError):
    """The environment does not hold a valid configuration for this function."""


class Settings(BaseModel):
    """Settings every function shares. Field `foo_bar` is read from variable `FOO_BAR`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Environment = "development"
    log_level: LogLevel = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Build the settings from `environ` (default: the process environment).

        An empty variable counts as unset, as CloudFormation renders an empty parameter.
        """
        source = os.environ if environ is None else environ
        values = {
            name: source[name.upper()] for name in cls.model_fields if source.get(name.upper())
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc)) from exc


class ApiSettings(Settings):
    """Configuration of ApiFunction."""

    users_table: str
    orders_table: str
    uploads_bucket: str
    # SecureString parameter holding the keys that sign page cursors.
    cursor_key_parameter: str
    cors_allow_origin: str = "*"


class OrderConsumerSettings(Settings):
    """Configuration of SqsHandlerFunction. No topic means no notifications."""

    orders_table: str
    notification_topic_arn: str | None = None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        variable = str(error["loc"][0]).upper() if error["loc"] else "?"
        if error["type"] == "missing":
            problems.append(f"missing required environment variable {variable}")
        else:
            problems.append(f"invalid environment variable {variable}: {error['msg']}")
    return "; ".join(problems)


class UploadProcessorSettings(Settings):
    """Configuration of S3HandlerFunction."""

    metadata_table: str
    uploads_bucket: str
