"""The service's clock: UTC, to the millisecond (what the ISO 8601 timestamps it writes carry)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso_utc(value: datetime) -> str:
    """2026-01-31T12:00:00.000Z: ISO 8601, UTC, milliseconds."""
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
