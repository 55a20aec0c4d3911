"""ApiFunction's /orders routes: orders, read-only here (the queue consumer writes them).

A route group (src.handlers.http, Api.include): imported by the first request under /orders, so
that a cold start serving another path loads neither the order models nor the orders service.
"""

from __future__ import annotations

import functools
from http import HTTPStatus

from src.core.aws import dynamodb_client
from src.handlers.api_settings import settings
from src.handlers.http import Routes
from src.models.orders import Order, OrderPath
from src.repositories.orders import OrderRepository
from src.services.orders import OrderReadService


@functools.cache
def order_service() -> OrderReadService:
    """The orders service of this execution environment (built on first use, then reused)."""
    return OrderReadService(OrderRepository(dynamodb_client(), settings.orders_table))


routes = Routes(services=order_service)


@routes.get(
    "/orders/{orderId}",
    errors=(HTTPStatus.NOT_FOUND,),
    summary="Get an order",
    tags=("orders",),
)
def get_order(path: OrderPath) -> Order:
    return order_service().get_order(path.orderId)
