"""The service's clock: UTC, to the millisecond (what the ISO 8601 timestamps it writes carry)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
