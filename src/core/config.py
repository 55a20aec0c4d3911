"""Typed settings, read once from the environment when a handler module is imported.

Each function declares the settings it needs; a missing or invalid variable fails the cold start
with a message naming the variable, instead of failing later inside a request.

Plain dataclasses, not pydantic: the bucket processor imports no pydantic at all
(src.models.objects says why), and these few string fields need no more than this.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Literal, Self, get_args, get_origin, get_type_hints

Environment = Literal["development", "staging", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class ConfigurationError(RuntimeError):
    """The environment does not hold a valid configuration for this function."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Settings every function shares. Field `foo_bar` is read from variable `FOO_BAR`."""

    environment: Environment = "development"
    log_level: LogLevel = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Build the settings from `environ` (default: the process environment).

        An empty variable counts as unset, as CloudFormation renders an empty parameter.
        """
        source = os.environ if environ is None else environ
        types = get_type_hints(cls)
        values: dict[str, str | int] = {}
        problems: list[str] = []
        for field in dataclasses.fields(cls):
            variable = field.name.upper()
            value = source.get(variable)
            if not value:
                if field.default is dataclasses.MISSING:
                    problems.append(f"missing required environment variable {variable}")
                continue
            allowed = (
                get_args(types[field.name]) if get_origin(types[field.name]) is Literal else ()
            )
            if allowed and value not in allowed:
                problems.append(
                    f"invalid environment variable {variable}: "
                    f"{value!r} is not one of {', '.join(allowed)}"
                )
                continue
            if types[field.name] is int:
                if not value.isdigit():
                    problems.append(
                        f"invalid environment variable {variable}: {value!r} is not a number"
                    )
                    continue
                values[field.name] = int(value)
                continue
            values[field.name] = value
        if problems:
            raise ConfigurationError("; ".join(problems))
        return cls(**values)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApiSettings(Settings):
    """Configuration of ApiFunction."""

    users_table: str
    orders_table: str
    uploads_bucket: str
    metadata_table: str
    idempotency_table: str
    cors_allow_origin: str = "*"


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderConsumerSettings(Settings):
    """Configuration of SqsHandlerFunction. No topic means no notifications."""

    orders_table: str
    dead_letter_queue_url: str
    notification_topic_arn: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class UploadProcessorSettings(Settings):
    """Configuration of S3HandlerFunction."""

    metadata_table: str
    uploads_bucket: str
    # The function's MemorySize, as Lambda sets it; unset (outside Lambda), Lambda's least.
    aws_lambda_function_memory_size: int = 128
