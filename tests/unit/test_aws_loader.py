"""The clients' data loader (src.core.aws): botocore's models, found and read faster, the same."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest
from botocore.exceptions import UnknownServiceError

from src.core import aws

SERVICES = ("dynamodb", "s3", "sns")
MODEL_TYPES = ("service-2", "endpoint-rule-set-1")
DATA = ("endpoints", "partitions", "sdk-default-configuration", "_retry")


def same(left: Any, right: Any) -> bool:
    """Equal, keys in the same order."""
    return json.dumps(left) == json.dumps(right)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_a_service_model_is_the_one_botocore_loads(service: str, model_type: str) -> None:
    ours = aws._Loader(None).load_service_model(service, model_type)
    assert same(ours, botocore.loaders.create_loader().load_service_model(service, model_type))
    assert type(ours) is dict


@pytest.mark.parametrize("name", DATA)
def test_the_data_a_client_reads_is_the_data_botocore_reads(name: str) -> None:
    assert same(aws._Loader(None).load_data(name), botocore.loaders.create_loader().load_data(name))


def test_creating_a_client_does_not_list_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[str] = []
    listdir = os.listdir

    def recording(path: Any = ".") -> list[str]:
        listed.append(os.fspath(path))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", recording)
    session = aws._session.__wrapped__()
    session.create_client("dynamodb", region_name="eu-west-1")

    assert botocore.loaders.Loader.BUILTIN_DATA_PATH not in listed
    assert os.path.join(botocore.loaders.Loader.BUILTIN_DATA_PATH, "dynamodb") in listed


def test_the_known_services_are_the_ones_botocore_lists() -> None:
    every = botocore.loaders.create_loader().list_available_services("service-2")
    known = aws._Loader(None).list_available_services("service-2")

    assert list(known) == every
    assert len(known) == len(every)
    assert known[0] == every[0]
    assert all(name in known for name in every)
    for name in ("nosuch", "", ".", "..", "dynamodb/2012-08-10", "dynamodb/..", 42):
        assert name not in known, name
    assert "dynamodb" in known


def test_an_unknown_service_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(UnknownServiceError) as refused:
        aws._session.__wrapped__().create_client("nosuch", region_name="eu-west-1")

    assert "Unknown service: 'nosuch'" in str(refused.value)
    assert ", dynamodb, " in str(refused.value)


def test_models_on_aws_data_path_come_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom = {"version": "2.0", "metadata": {"note": "custom"}, "operations": {}, "shapes": {}}
    for service in ("widgets", "dynamodb"):
        model = tmp_path / service / "2012-08-10" / "service-2.json"
        model.parent.mkdir(parents=True)
        model.write_text(json.dumps(custom))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))

    loader = aws._session.__wrapped__().get_component("data_loader")

    assert isinstance(loader, aws._Loader)
    assert "widgets" in loader.list_available_services("service-2")
    assert "widgets" in list(loader.list_available_services("service-2"))
    assert loader.load_service_model("widgets", "service-2") == custom
    assert loader.load_service_model("dynamodb", "service-2") == custom
