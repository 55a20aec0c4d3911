"""Read template.yaml so that tests and local tools create exactly the resources it declares.

CloudFormation's short intrinsic tags (!Ref, !Sub, !GetAtt ...) are loaded as their long form
({"Ref": ...}, {"Fn::Sub": ...}), so nothing here keeps a second copy of a table's keys.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that understands CloudFormation's short-form intrinsic functions."""


def _intrinsic(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}")
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data, intrinsic functions in their long form."""
    with path.open() as handle:
        template: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return template


def resources_of_type(resource_type: str, path: Path = TEMPLATE_PATH) -> dict[str, dict[str, Any]]:
    """Logical id -> properties of every resource of `resource_type`."""
    resources = load_template(path)["Resources"]
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in resources.items()
        if resource["Type"] == resource_type
    }


def create_table_request(properties: dict[str, Any], table_name: str) -> dict[str, Any]:
    """The CreateTable arguments for a template's AWS::DynamoDB::Table properties: keys,
    attribute definitions, billing mode and secondary indexes exactly as declared."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if index_kind in properties:
            request[index_kind] = properties[index_kind]
    return request


def function_environment(logical_id: str, path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The environment variables a function of the template file gets, unresolved."""
    return declared_variables(load_template(path), logical_id)


def declared_variables(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The environment variables `template` gives a function: Globals first, then its own."""
    global_vars = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    own = template["Resources"][logical_id]["Properties"].get("Environment", {})
    return {**global_vars, **own.get("Variables", {})}


def sam_transform(
    template: dict[str, Any],
    stack_name: str = "users-service-dev",
    parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The CloudFormation template the transforms make of `template` for these parameter
    values, offline: first what the template needs of AWS::LanguageExtensions (each Fn::If
    on a condition of parameters resolved), then SAM's (samtranslator, the library
    `sam deploy` relies on in the cloud).

    SAM CLI's own port of AWS::LanguageExtensions is not used: it turns an Fn::Sub it cannot
    resolve into a plain string holding "${...}" (SAM CLI 1.170)."""
    import boto3  # noqa: PLC0415 - slow imports, for this function only
    from samtranslator.parser.parser import Parser  # noqa: PLC0415
    from samtranslator.translator.translator import Translator  # noqa: PLC0415

    if "AWS::LanguageExtensions" in template.get("Transform", []):
        evaluator = Evaluator(template, {}, parameters=parameters, stack_name=stack_name)
        template = {**template, "Transform": "AWS::Serverless-2016-10-31"}
        template["Resources"] = _resolve_conditionals(template["Resources"], evaluator)
    # As `sam package` does: code locations become S3 URIs, which the transform requires.
    template = copy.deepcopy(template)
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if uri in properties:
                properties[uri] = f"s3://artifacts/{logical_id}.zip"
    values = {
        **(parameters or {}),
        "AWS::StackName": stack_name,
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
    }
    translator = Translator(
        None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1")
    )
    transformed: dict[str, Any] = translator.translate(
        template,
        parameter_values=values,
        # The template names no managed policy by name, so nothing needs looking up.
        get_managed_policy_map=dict,
    )
    return transformed


_NO_VALUE = {"Ref": "AWS::NoValue"}


def _resolve_conditionals(value: Any, evaluator: Evaluator) -> Any:
    """`value` with each Fn::If replaced by its chosen branch, AWS::NoValue dropped."""
    if isinstance(value, list):
        items = [_resolve_conditionals(item, evaluator) for item in value]
        return [item for item in items if item != _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::If"}:
        condition, when_true, when_false = value["Fn::If"]
        chosen = when_true if evaluator.condition(condition) else when_false
        return _resolve_conditionals(chosen, evaluator)
    resolved = {key: _resolve_conditionals(item, evaluator) for key, item in value.items()}
    return {key: item for key, item in resolved.items() if item != _NO_VALUE}


def dependency_cycles(template: dict[str, Any]) -> list[list[str]]:
    """The cycles among a CloudFormation template's resources (Ref, GetAtt, Sub, DependsOn):
    each is a deploy failure ("Circular dependency between resources")."""
    resources = template["Resources"]
    edges = {
        name: (_references(body) & set(resources)) - {name} for name, body in resources.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for name in sorted(resources):
        if name not in state:
            visit(name)
    return cycles


def _references(value: Any) -> set[str]:
    """Every name that intrinsic functions (and DependsOn) inside `value` refer to."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= _direct_references(key, item) or _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def _direct_references(key: str, item: Any) -> set[str]:
    """The names one intrinsic function (or DependsOn) refers to; empty for other keys."""
    if key == "Ref" and isinstance(item, str):
        return {item}
    if key == "Fn::GetAtt":
        return {item[0] if isinstance(item, list) else str(item).split(".", 1)[0]}
    if key == "Fn::Sub":
        text, variables = (item[0], item[1]) if isinstance(item, list) else (item, {})
        named = {part.split(".", 1)[0] for part in re.findall(r"\$\{([^}!]+)\}", str(text))}
        return named | _references(variables)
    if key == "DependsOn":
        return {item} if isinstance(item, str) else set(item)
    return set()


class Evaluator:
    """Resolves the intrinsic functions template.yaml uses (Ref, Fn::Sub, Fn::GetAtt for names,
    Fn::If, Fn::Equals, Fn::Not, Fn::FindInMap) for one set of parameter values and the
    physical names of the resources that exist (in an emulator, say)."""

    def __init__(
        self,
        template: dict[str, Any],
        physical: dict[str, str],
        *,
        parameters: dict[str, str] | None = None,
        stack_name: str = "local",
        region: str = "us-east-1",
        account: str = "123456789012",
    ) -> None:
        self._template = template
        self._physical = physical
        self._values: dict[str, Any] = {
            name: spec.get("Default", "") for name, spec in template.get("Parameters", {}).items()
        }
        self._values.update(parameters or {})
        self._values.update(
            {
                "AWS::StackName": stack_name,
                "AWS::Region": region,
                "AWS::AccountId": account,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            }
        )

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        handlers: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Fn::Sub": self._sub,
            "Fn::If": self._if,
            "Fn::FindInMap": self._find_in_map,
            "Fn::GetAtt": self._get_att,
        }
        if function in handlers:
            return handlers[function](argument)
        return {function: self.resolve(argument)}

    def condition(self, name: str) -> bool:
        return self._truth(self._template["Conditions"][name])

    def _truth(self, expression: Any) -> bool:
        ((function, argument),) = expression.items()
        if function == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return bool(str(left) == str(right))
        if function == "Fn::FindInMap":
            return bool(self._find_in_map(argument))
        if function == "Fn::Not":
            return not self._truth(argument[0])
        if function == "Fn::And":
            return all(self._truth(item) for item in argument)
        if function == "Fn::Or":
            return any(self._truth(item) for item in argument)
        if function == "Condition":
            return self.condition(argument)
        raise ValueError(f"condition function {function} not supported")

    def _ref(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        return self._physical[name]

    def _sub(self, argument: Any) -> str:
        text, variables = (
            (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
        )

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                return str(self._get_att(name.split(".", 1)))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def _if(self, argument: list[Any]) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _find_in_map(self, argument: list[Any]) -> Any:
        mapping, top, second = (str(self.resolve(item)) for item in argument)
        return self._template["Mappings"][mapping][top][second]

    def _get_att(self, argument: list[str]) -> str:
        resource, attribute = argument
        return self._physical[f"{resource}.{attribute}"]
