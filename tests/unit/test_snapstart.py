"""SnapStart: per environment in the template, and restore hooks that stop restored execution
environments from sharing connections, random state or the cold-start flag."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from devtools.template import Evaluator, load_template
from src.core import logging as service_logging
from src.core.aws import dynamodb_client
from src.core.snapstart import register_restore_hooks


@pytest.mark.parametrize(
    ("environment", "parameter", "expected"),
    [
        ("development", "default", False),
        ("staging", "default", True),
        ("production", "default", True),
        ("development", "enabled", True),
        ("production", "disabled", False),
    ],
)
def test_snapstart_per_environment_and_parameter(
    environment: str, parameter: str, expected: bool
) -> None:
    evaluator = Evaluator(
        load_template(), {}, parameters={"Environment": environment, "SnapStart": parameter}
    )

    assert evaluator.condition("UsesSnapStart") is expected


def test_functions_publish_versions_behind_an_alias() -> None:
    function = load_template()["Globals"]["Function"]

    assert function["AutoPublishAlias"] == "live"
    assert function["SnapStart"]["ApplyOn"] == {
        "Fn::If": ["UsesSnapStart", "PublishedVersions", "None"]
    }


def test_after_a_restore_clients_are_new_random_is_reseeded_and_the_start_is_cold() -> None:
    hooks: list[Callable[[], Any]] = []
    before = dynamodb_client()

    assert register_restore_hooks(dynamodb_client, register=hooks.append)
    random.seed(42)
    snapshot_draw = random.random()
    random.seed(42)
    service_logging._cold_start = False
    (hook,) = hooks
    hook()

    assert dynamodb_client() is not before
    assert random.random() != snapshot_draw
    assert service_logging._cold_start is True


def test_outside_snapstart_nothing_is_registered() -> None:
    assert register_restore_hooks(dynamodb_client) is False
