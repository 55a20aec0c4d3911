"""Models for every boundary: pydantic for the API's requests and responses; plain classes for
what the queue consumer and the bucket processor handle (order_events.py, objects.py), which
import no pydantic."""
