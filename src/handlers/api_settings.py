"""ApiFunction's settings, read from the environment once (src.core.config): shared by the
routes of src.handlers.api_handler and by the route groups it includes."""

from __future__ import annotations

from src.core.config import ApiSettings

settings = ApiSettings.from_env()
