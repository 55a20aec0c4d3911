"""Page cursors: opaque to clients, a user id in a fixed shape that the OpenAPI document gives;
every value of that shape opens to a position, every other value is refused."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src.core.errors import InvalidCursor
from src.models.users import CURSOR_PATTERN
from src.services.cursors import open_cursor, seal


@given(st.uuids())
def test_a_cursor_opens_to_the_user_id_it_was_made_from(user_id: uuid.UUID) -> None:
    cursor = seal(str(user_id))

    assert re.fullmatch(CURSOR_PATTERN, cursor)
    assert open_cursor(cursor) == str(user_id)


@given(st.from_regex(CURSOR_PATTERN, fullmatch=True))
def test_every_value_of_the_cursor_shape_is_a_position(cursor: str) -> None:
    user_id = open_cursor(cursor)

    assert seal(user_id) == cursor


@given(st.text(max_size=40).filter(lambda text: not re.fullmatch(CURSOR_PATTERN, text)))
def test_any_other_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        open_cursor(text)
