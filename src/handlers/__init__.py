"""Lambda entry points: thin adapters from events to service calls."""
