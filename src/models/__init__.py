"""Models for every boundary, pydantic's: the API's requests and responses, and the order
queue's messages, stored orders and notifications (orders.py). The bucket processor's records
are dataclasses (objects.py): it imports no pydantic."""
