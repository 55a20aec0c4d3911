"""The bucket processor's records: metadata stored and read back unchanged, and change events
refused when their sequencer is not one."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from src.models.objects import ChangeKind, ObjectChange, ProcessingStatus, UploadMetadata

WHEN = datetime(2026, 11, 27, 12, 0, 0, 123000, tzinfo=UTC)


def test_metadata_round_trips_through_its_stored_form() -> None:
    metadata = UploadMetadata(
        objectKey="s3://b/uploads/a.png",
        bucket="b",
        key="uploads/a.png",
        size=10,
        contentType="image/png",
        lastModified=WHEN,
        processedAt=WHEN,
        status=ProcessingStatus.PROCESSED,
        width=4,
        height=3,
        thumbnailKey="thumbnails/a.png/e.jpeg",
    )
    record = metadata.to_record()
    # As DynamoDB gives numbers back.
    stored = {k: Decimal(v) if isinstance(v, int) else v for k, v in record.items()}

    assert record["lastModified"] == "2026-11-27T12:00:00.123Z"
    assert record["status"] == "processed"
    assert "reason" not in record
    assert "recordCount" not in record
    assert UploadMetadata.from_record(stored) == metadata


@pytest.mark.parametrize("sequencer", ["", "zz", "0" * 65, "00 11"])
def test_a_change_without_a_real_sequencer_is_refused(sequencer: str) -> None:
    with pytest.raises(ValueError, match="sequencer"):
        ObjectChange(kind=ChangeKind.CREATED, bucket="b", key="uploads/a", sequencer=sequencer)
