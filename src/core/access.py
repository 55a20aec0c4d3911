"""The OAuth scopes of the API's access tokens and the user pool group they follow. The pool's
token trigger (src.handlers.token_handler) grants SELF_SCOPE to every user and ADMIN_SCOPE to
the members of ADMINISTRATORS_GROUP; API Gateway's authorizer checks them per method
(template.yaml), and the users service per record."""

RESOURCE_SERVER = "users-api"
SELF_SCOPE = f"{RESOURCE_SERVER}/self"
ADMIN_SCOPE = f"{RESOURCE_SERVER}/admin"
ADMINISTRATORS_GROUP = "administrators"
