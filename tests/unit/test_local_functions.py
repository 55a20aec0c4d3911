"""The local stack's Lambda side without processes: each function's version as the template
gives it, what an execution environment's interpreter and environment hold, and which edits
reload and which need a restart."""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path

import pytest

from devtools.local.functions import Modes, Version, versions_from_template
from devtools.local.reload import needs_restart, new_version, syntax_errors
from devtools.runtime import RUNTIME, SNAPSTART_HOOKS
from devtools.template import load_template

TASK_ROOT = Path("/var/task")
DEBUGPY = Path("/opt/debug")
NO_MODES = Modes()


def versions(modes: Modes = NO_MODES, **parameters: str) -> dict[str, Version]:
    template = load_template()
    physical = {name: f"{name.lower()}-local" for name in template["Resources"]}
    return versions_from_template(template, physical, TASK_ROOT, modes, parameters=parameters)


def test_versions_take_the_template_settings_globals_first() -> None:
    api = versions()["ApiFunction"]
    function = load_template()["Resources"]["ApiFunction"]["Properties"]

    assert api.handler == function["Handler"] == "src.handlers.api_handler.handler"
    assert api.timeout == float(function.get("Timeout", 10))
    assert api.memory == function.get("MemorySize", 512)
    assert api.variables["ENVIRONMENT"] == "development"
    assert api.variables["LOG_LEVEL"] == "INFO"
    assert api.variables["USERS_TABLE"] == "userstable-local"


@pytest.mark.parametrize(
    ("modes", "parameters", "expected"),
    [
        (Modes(), {}, False),
        (Modes(), {"Environment": "staging"}, True),
        (Modes(), {"Environment": "production"}, True),
        (Modes(snapstart=True), {}, True),
        (Modes(snapstart=False), {"Environment": "production"}, False),
    ],
)
def test_snapstart_where_the_template_turns_it_on_unless_told(
    modes: Modes, parameters: dict[str, str], expected: bool
) -> None:
    for version in versions(modes, **parameters).values():
        assert version.snapstart is expected
        # The hooks package is on the path in SnapStart mode only.
        assert (SNAPSTART_HOOKS in version.extra_paths) is expected


def test_an_environment_imports_the_code_and_the_runtime_set_only() -> None:
    debugging = versions(Modes(debug_port=5890, debug_paths=(DEBUGPY,)))
    api, orders = debugging["ApiFunction"], debugging["SqsHandlerFunction"]

    assert api.interpreter()[:4] == [str(RUNTIME / "bin" / "python"), "-s", "-P", "-X"]
    assert orders.interpreter()[:3] == [str(RUNTIME / "bin" / "python"), "-s", "-P"]
    assert api.environment("on-demand")["PYTHONPATH"] == os.pathsep.join(
        [str(TASK_ROOT), str(DEBUGPY)]
    )
    assert orders.environment("on-demand")["PYTHONPATH"] == str(TASK_ROOT)
    assert orders.environment("snap-start")["AWS_LAMBDA_INITIALIZATION_TYPE"] == "snap-start"
    assert orders.environment("on-demand")["LAMBDA_TASK_ROOT"] == str(TASK_ROOT)
    assert "LOCAL_DEBUG_PORT" not in orders.environment("on-demand")
    assert api.environment("on-demand")["LOCAL_DEBUG_PORT"] == "5890"


def test_a_settings_change_is_a_new_version_and_no_change_is_none() -> None:
    current = versions()["ApiFunction"]
    wanted = dataclasses.replace(current, timeout=29.0, task_root=Path("/elsewhere"))

    changed = new_version(current, wanted)

    assert changed is not None
    assert (changed.number, changed.timeout, changed.task_root) == (2, 29.0, TASK_ROOT)
    assert new_version(current, copy.copy(current)) is None


def test_only_function_settings_reload_without_a_restart() -> None:
    template = load_template()
    settings = copy.deepcopy(template)
    settings["Resources"]["ApiFunction"]["Properties"]["Timeout"] = 29
    settings["Globals"]["Function"]["Environment"]["Variables"]["LOG_LEVEL"] = "DEBUG"
    table = copy.deepcopy(template)
    table["Resources"]["NewTable"] = {"Type": "AWS::DynamoDB::Table", "Properties": {}}
    event = copy.deepcopy(template)
    event["Resources"]["ApiFunction"]["Properties"]["Events"].popitem()

    assert needs_restart(template, settings) is False
    assert needs_restart(template, table) is True
    assert needs_restart(template, event) is True


def test_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    broken, fine = tmp_path / "broken.py", tmp_path / "fine.py"
    broken.write_text("x = 1\ndef f(:\n")
    fine.write_text("x = 1\n")

    assert syntax_errors([broken, fine, tmp_path / "gone.py"]) == [
        f"{broken}:2: SyntaxError: invalid syntax"
    ]
