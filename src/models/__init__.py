"""Pydantic models for every boundary: API requests and responses, stored records, messages."""
