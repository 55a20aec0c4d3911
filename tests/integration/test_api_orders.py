"""GET /orders/{orderId}: the order the queue consumer stored, with exact JSON numbers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.order_queue import SetAside, sqs_event


@pytest.fixture
def orders_api(api: ApiClient, orders_table: str) -> ApiClient:
    return api


def apply(*bodies: dict[str, Any]) -> None:
    import boto3

    from src.handlers.sqs_handler import process_batch
    from src.repositories.notifications import NoNotifications
    from src.repositories.orders import OrderRepository
    from src.services.orders import OrderEventService

    service = OrderEventService(
        OrderRepository(boto3.client("dynamodb"), "orders-test"), NoNotifications()
    )
    assert process_batch(sqs_event(*bodies), service, SetAside()) == {"batchItemFailures": []}


def test_returns_the_stored_order_with_numbers_as_json_numbers(orders_api: ApiClient) -> None:
    apply(
        json.loads(
            '{"type": "order_created", "orderId": "ord-1", "customerId": "cus-1",'
            ' "items": [{"productId": "sku-1", "quantity": 3}], "total": 0.30}'
        ),
        {"type": "order_updated", "orderId": "ord-1", "updates": {"status": "shipped"}},
    )

    response = orders_api.request("GET", "/orders/ord-1")

    assert response.status == 200
    assert response.raw_body is not None
    assert '"total":0.3' in response.raw_body
    order = response.body
    assert order["orderId"] == "ord-1"
    assert order["status"] == "shipped"
    assert order["items"] == [{"productId": "sku-1", "quantity": 3}]
    assert "appliedEvents" not in order
    assert order["createdAt"].endswith("Z")
    assert order["updatedAt"] >= order["createdAt"]


def test_an_id_with_characters_a_url_encodes_is_read_from_the_encoded_path(
    orders_api: ApiClient,
) -> None:
    order_id = "ord#7/a:b@c"  # every punctuation mark the id's pattern allows
    apply(
        {
            "type": "order_created",
            "orderId": order_id,
            "customerId": "cus-1",
            "items": [{"productId": "sku-1", "quantity": 1}],
            "total": 1,
        }
    )

    # The path as API Gateway's REST APIs pass it: percent-encoded as the client sent it.
    response = orders_api.request("GET", "/orders/ord%237%2Fa%3Ab%40c")

    assert response.status == 200, response.body
    assert response.body["orderId"] == order_id


def test_a_cancelled_order_shows_when_and_why(orders_api: ApiClient) -> None:
    apply(
        {
            "type": "order_created",
            "orderId": "ord-2",
            "customerId": "cus-1",
            "items": [{"productId": "sku-1", "quantity": 1}],
            "total": 12,
        },
        {"type": "order_cancelled", "orderId": "ord-2", "reason": "out of stock"},
    )

    response = orders_api.request("GET", "/orders/ord-2")
    order = response.body

    assert response.raw_body is not None
    assert '"total":12,' in response.raw_body  # an integral amount prints as an integer
    assert order["status"] == "cancelled"
    assert order["cancelReason"] == "out of stock"
    assert order["total"] == 12
    assert "cancelledAt" in order


def test_unknown_order_is_404(orders_api: ApiClient) -> None:
    response = orders_api.request("GET", "/orders/nope")

    assert response.status == 404
    assert response.body == {"error": "order nope not found"}


def test_other_methods_are_405(orders_api: ApiClient) -> None:
    response = orders_api.request("DELETE", "/orders/ord-1")

    assert response.status == 405
    assert "GET" in response.headers["Allow"]


def test_is_in_the_openapi_document(orders_api: ApiClient) -> None:
    document = orders_api.request("GET", "/openapi.json").body

    operation = document["paths"]["/orders/{orderId}"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Order"
    )
    assert "404" in operation["responses"]
    assert "Order" in document["components"]["schemas"]
