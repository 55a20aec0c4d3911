"""Order events that say who they are (`eventId`) and when (`version`), through the consumer's
service on DynamoDB (moto, table from template.yaml): repeated updates applied, stale ones set
aside, reused ids rejected, in every delivery order."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from src.core.errors import OrderEventNotApplicableYet, OrderEventRejected
from src.models.orders import parse_order_message
from src.repositories.notifications import NoNotifications
from src.repositories.orders import OrderRepository
from src.services.orders import OrderEventService, Outcome


@pytest.fixture
def service(dynamodb: Any, orders_table: str) -> OrderEventService:
    return OrderEventService(OrderRepository(dynamodb, orders_table), NoNotifications())


@pytest.fixture
def orders(dynamodb: Any, orders_table: str) -> OrderRepository:
    return OrderRepository(dynamodb, orders_table)


def event(kind: str, version: int | None = None, event_id: str | None = None, **fields: Any) -> Any:
    document: dict[str, Any] = {"type": f"order_{kind}", "orderId": "o-1", **fields}
    if kind == "created":
        document.setdefault("customerId", "c-1")
    if version is not None:
        document["version"] = version
    if event_id is not None:
        document["eventId"] = event_id
    return parse_order_message(json.dumps(document))


def total(value: int, version: int | None = None, event_id: str | None = None) -> Any:
    return event("updated", version, event_id, updates={"total": value})


def apply_until_settled(service: OrderEventService, events: list[Any]) -> list[Outcome]:
    """Deliver in the given order; an event waiting for its order's creation comes again after
    the others, as the queue redelivers it."""
    waiting, outcomes = list(events), []
    while waiting:
        current = waiting.pop(0)
        try:
            outcomes.append(service.apply(current).outcome)
        except OrderEventNotApplicableYet:
            waiting.append(current)
    return outcomes


HISTORY = [
    event("created", 1, "e-1", total=10),
    total(20, 2, "e-2"),
    total(30, 3, "e-3"),
    total(20, 4, "e-4"),
]


@pytest.mark.parametrize(
    "order", list(itertools.permutations(range(4))), ids=lambda o: "".join(map(str, o))
)
def test_repeated_equal_updates_end_on_the_last_version_in_every_delivery_order(
    service: OrderEventService, orders: OrderRepository, order: tuple[int, ...]
) -> None:
    outcomes = apply_until_settled(service, [HISTORY[i] for i in order])

    stored = orders.get("o-1")
    assert (stored.total, stored.version) == (20, 4)
    assert outcomes.count(Outcome.APPLIED) + outcomes.count(Outcome.STALE) == 4
    # The last version always applies; nothing is a duplicate (the ids differ).
    assert Outcome.DUPLICATE not in outcomes


def test_in_order_every_update_applies(service: OrderEventService) -> None:
    assert apply_until_settled(service, HISTORY) == [Outcome.APPLIED] * 4


def test_without_ids_a_repeated_update_is_a_duplicate_as_the_readme_says(
    service: OrderEventService, orders: OrderRepository
) -> None:
    outcomes = apply_until_settled(
        service, [event("created", total=10), total(20), total(30), total(20)]
    )

    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.APPLIED, Outcome.DUPLICATE]
    assert orders.get("o-1").total == 30
    assert orders.get("o-1").version is None


def test_an_older_version_is_stale_and_changes_nothing(
    service: OrderEventService, orders: OrderRepository
) -> None:
    service.apply(event("created", 1, "e-1", total=10))
    service.apply(event("updated", 3, "e-3", updates={"status": "shipped"}))
    before = orders.get("o-1")

    result = service.apply(event("updated", 2, "e-2", updates={"status": "confirmed"}))

    assert result.outcome is Outcome.STALE
    assert orders.get("o-1") == before


def test_a_redelivered_event_with_an_id_is_a_duplicate(service: OrderEventService) -> None:
    service.apply(event("created", 1, "e-1", total=10))
    assert service.apply(total(20, 2, "e-2")).outcome is Outcome.APPLIED

    assert service.apply(total(20, 2, "e-2")).outcome is Outcome.DUPLICATE


@pytest.mark.parametrize(
    "reuse", [total(99, 2, "e-2"), total(20, 5, "e-2"), total(20, None, "e-2")]
)
def test_an_event_id_reused_with_other_content_is_rejected(
    service: OrderEventService, orders: OrderRepository, reuse: Any
) -> None:
    service.apply(event("created", 1, "e-1", total=10))
    service.apply(total(20, 2, "e-2"))

    with pytest.raises(OrderEventRejected) as rejected:
        service.apply(reuse)

    assert rejected.value.rule == "event-id-reused"
    assert orders.get("o-1").total == 20


def test_a_cancellation_reusing_an_event_id_is_rejected(
    service: OrderEventService, orders: OrderRepository
) -> None:
    service.apply(event("created", 1, "e-1", total=10))

    with pytest.raises(OrderEventRejected) as rejected:
        service.apply(event("cancelled", 2, "e-1"))

    assert rejected.value.rule == "event-id-reused"
    assert orders.get("o-1").status == "pending"


def test_after_a_cancellation_a_lower_version_is_stale_and_a_higher_one_refused(
    service: OrderEventService, orders: OrderRepository
) -> None:
    service.apply(event("created", 1, "e-1", total=10))
    service.apply(event("cancelled", 3, "e-3"))

    assert service.apply(total(20, 2, "e-2")).outcome is Outcome.STALE
    with pytest.raises(OrderEventRejected) as rejected:
        service.apply(total(40, 4, "e-4"))

    assert rejected.value.rule == "order-cancelled"
    stored = orders.get("o-1")
    assert (stored.status, stored.total, stored.version) == ("cancelled", 10, 3)


def test_a_status_update_delivered_after_a_later_one_is_stale_not_rejected(
    service: OrderEventService,
) -> None:
    service.apply(event("created", 1, "e-1"))
    service.apply(event("updated", 3, "e-3", updates={"status": "delivered"}))

    result = service.apply(event("updated", 2, "e-2", updates={"status": "shipped"}))

    assert result.outcome is Outcome.STALE


def test_a_cancellation_delivered_after_a_later_update_is_stale(
    service: OrderEventService, orders: OrderRepository
) -> None:
    service.apply(event("created", 1, "e-1"))
    service.apply(total(20, 3, "e-3"))

    assert service.apply(event("cancelled", 2, "e-2")).outcome is Outcome.STALE
    assert orders.get("o-1").status == "pending"


def test_the_order_shows_its_version(service: OrderEventService, orders: OrderRepository) -> None:
    service.apply(event("created", 1, "e-1"))
    service.apply(total(20, 7, "e-7"))

    assert orders.get("o-1").model_dump(mode="json")["version"] == 7


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"version": 0}, "version: Input should be greater than or equal to 1"),
        ({"version": "2"}, "version: Input should be a valid integer"),
        ({"version": 1.5}, "version: Input should be a valid integer"),
        ({"version": 2**53}, "version: Input should be less than or equal to 9007199254740991"),
        ({"eventId": ""}, "eventId: String should have at least 1 character"),
        ({"eventId": "a b"}, "eventId: String should match pattern '^[!-~]+$'"),
        ({"eventId": "x" * 129}, "eventId: String should have at most 128 characters"),
    ],
)
def test_ids_and_versions_outside_the_contract_are_invalid(
    fields: dict[str, Any], problem: str
) -> None:
    body = json.dumps({"type": "order_cancelled", "orderId": "o-1", **fields})
    with pytest.raises(OrderEventRejected) as rejected:
        parse_order_message(body)
    assert str(rejected.value) == f"not a valid order event: {problem}"
    assert rejected.value.rule == "invalid-message"


def test_a_stale_cancellation_announces_nothing(service: OrderEventService) -> None:
    service.apply(event("created", 1, "e-1"))
    service.apply(total(20, 3, "e-3"))

    result = service.apply(event("cancelled", 2, "e-2"))

    assert (result.outcome, result.notification) == (Outcome.STALE, None)


def test_the_rule_table_names_every_rejection_the_contract_lists_and_no_other() -> None:
    from src.core.errors import REJECTION_RULES
    from src.models.order_rules import CHECKS, Verdict

    rejections = {
        check.rejection
        for checks in CHECKS.values()
        for check in checks
        if check.verdict is Verdict.REJECTED
    }
    # The one rejection not read from an order: a message that is no order event at all.
    assert rejections == set(REJECTION_RULES) - {"invalid-message"}
    # Each kind of event is checked for its existence first (a creation: its absence last).
    for kind, checks in CHECKS.items():
        names = [check.rule.name for check in checks]
        assert names[0] == "exists" or (names[-1] == "new" and "exists" not in names), kind
