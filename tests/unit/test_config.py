"""Settings: read from the environment once; a missing or invalid variable is named."""

from __future__ import annotations

import pytest

from src.core.config import ApiSettings, ConfigurationError


def test_reads_each_field_from_its_upper_case_variable() -> None:
    settings = ApiSettings.from_env(
        {
            "USERS_TABLE": "users",
            "ORDERS_TABLE": "orders",
            "UPLOADS_BUCKET": "uploads",
            "IDEMPOTENCY_TABLE": "idempotency",
            "METADATA_TABLE": "metadata",
            "ENVIRONMENT": "production",
            "LOG_LEVEL": "WARNING",
        }
    )

    assert settings.users_table == "users"
    assert settings.uploads_bucket == "uploads"
    assert settings.idempotency_table == "idempotency"
    assert settings.environment == "production"
    assert settings.log_level == "WARNING"
    assert settings.cors_allow_origin == "*"


def test_a_missing_required_variable_is_named() -> None:
    with pytest.raises(
        ConfigurationError, match="missing required environment variable USERS_TABLE"
    ):
        ApiSettings.from_env({"ENVIRONMENT": "development"})


def test_an_empty_variable_counts_as_missing() -> None:
    with pytest.raises(ConfigurationError, match="USERS_TABLE"):
        ApiSettings.from_env({"USERS_TABLE": ""})


@pytest.mark.parametrize(("name", "value"), [("ENVIRONMENT", "prod"), ("LOG_LEVEL", "LOUD")])
def test_an_invalid_value_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"invalid environment variable {name}"):
        ApiSettings.from_env(
            {
                "USERS_TABLE": "u",
                "ORDERS_TABLE": "o",
                "UPLOADS_BUCKET": "b",
                "IDEMPOTENCY_TABLE": "i",
                "METADATA_TABLE": "m",
                name: value,
            }
        )


def test_the_api_handler_fails_at_import_without_its_table(tmp_path: object) -> None:
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key != "USERS_TABLE"}
    result = subprocess.run(
        [sys.executable, "-c", "import src.handlers.api_handler"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "missing required environment variable USERS_TABLE" in result.stderr
