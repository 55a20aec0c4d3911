"""AccessTokenFunction: the user pool's pre token generation trigger (event version 2), which
puts the API's scopes and the user's verified email in each access token Cognito issues. Every
user gets the scope of their own record; the pool's administrators also the scope of every
user. It imports nothing but the scope names: a sign-in waits for it."""

from __future__ import annotations

from typing import Any

from src.core.access import ADMIN_SCOPE, ADMINISTRATORS_GROUP, SELF_SCOPE


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = event.get("request") or {}
    groups = (request.get("groupConfiguration") or {}).get("groupsToOverride") or []
    scopes = [SELF_SCOPE, ADMIN_SCOPE] if ADMINISTRATORS_GROUP in groups else [SELF_SCOPE]
    access: dict[str, Any] = {"scopesToAdd": scopes}
    attributes = request.get("userAttributes") or {}
    # Only an address the user has shown they receive mail at names their record.
    if attributes.get("email") and attributes.get("email_verified") == "true":
        access["claimsToAddOrOverride"] = {"email": attributes["email"]}
    event["response"] = {"claimsAndScopeOverrideDetails": {"accessTokenGeneration": access}}
    return event
