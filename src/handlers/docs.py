"""API docs for people: `GET /docs` renders the service's own /openapi.json with Swagger UI, whose
two assets the API serves itself from the swagger-ui-bundle package (no CDN, deployed or local).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from src.handlers.http import Response

# URLs are relative: the page works under a stage prefix (/v1/docs) and at the root alike.
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{url: "openapi.json", dom_id: "#swagger-ui"}});
  </script>
</body>
</html>
"""
ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "application/javascript"}


class AssetPath(BaseModel):
    """Path of `/docs/{asset}`."""

    model_config = ConfigDict(defer_build=True)

    asset: str


def page(title: str) -> Response:
    return Response(200, PAGE.format(title=title), content_type="text/html; charset=utf-8")


def asset(name: str) -> Response | None:
    """One of the page's assets; None for any other name."""
    if name not in ASSETS:
        return None
    from swagger_ui_bundle import swagger_ui_path  # noqa: PLC0415 - the docs path only

    return Response(
        200,
        (swagger_ui_path / name).read_text(encoding="utf-8"),
        content_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )
