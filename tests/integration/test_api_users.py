"""The /users API through the Lambda handler, with API Gateway proxy events from events/ and
DynamoDB emulated by moto: every status code of the HTTP contract."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from tests.conftest import ApiClient, LambdaContext, load_event

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def create(api: ApiClient, email: str = "ada@example.com", **fields: Any) -> dict[str, Any]:
    response = api.request("POST", "/users", {"email": email, "name": "Ada", **fields})
    assert response.status == 201, response.body
    return response.body  # type: ignore[no-any-return]


class TestSampleEvents:
    """The events/ files, as `sam local invoke -e` would send them."""

    def test_the_create_event_creates_a_user(self, users_table: str) -> None:
        from src.handlers import api_handler

        response = api_handler.handler(load_event("api_create_user.json"), LambdaContext())

        assert response["statusCode"] == 201
        assert ApiClient.parse(response).body["email"] == "ada.lovelace@example.com"

    def test_the_item_events_answer_404_for_an_unknown_user(self, users_table: str) -> None:
        from src.handlers import api_handler

        for name in ("api_get_user.json", "api_update_user.json", "api_delete_user.json"):
            response = api_handler.handler(load_event(name), LambdaContext())
            assert response["statusCode"] == 404, name

    def test_the_list_event_lists_users(self, users_table: str) -> None:
        from src.handlers import api_handler

        api_handler.handler(load_event("api_create_user.json"), LambdaContext())
        response = ApiClient.parse(
            api_handler.handler(load_event("api_list_users.json"), LambdaContext())
        )

        assert response.status == 200
        assert response.body["count"] == 1

    def test_the_preflight_event_is_answered_with_cors_headers(self, users_table: str) -> None:
        from src.handlers import api_handler

        response = ApiClient.parse(
            api_handler.handler(load_event("api_preflight_users.json"), LambdaContext())
        )

        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]


class TestCreate:
    def test_returns_201_with_the_stored_user(self, api: ApiClient) -> None:
        response = api.request(
            "POST", "/users", {"email": "Ada@Example.COM", "name": "Ada", "age": 36}
        )

        assert response.status == 201
        user = response.body
        assert user["email"] == "ada@example.com"
        assert user["name"] == "Ada"
        assert user["age"] == 36
        assert isinstance(user["age"], int)
        assert ISO_UTC.match(user["createdAt"])
        assert "updatedAt" not in user
        assert api.request("GET", f"/users/{user['userId']}").body == user

    def test_an_integral_age_written_as_36_0_is_36(self, api: ApiClient) -> None:
        # JSON does not tell 36 from 36.0, and the document's "integer" admits both.
        response = api.request(
            "POST", "/users", raw_body='{"email": "ada@example.com", "name": "Ada", "age": 36.0}'
        )

        assert response.status == 201
        assert response.body["age"] == 36
        assert response.raw_body is not None
        assert '"age":36,' in response.raw_body.replace(" ", "")

    def test_age_is_optional_and_zero_is_a_value(self, api: ApiClient) -> None:
        assert "age" not in create(api, "a@example.com")
        assert create(api, "b@example.com", age=0)["age"] == 0

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "Ada"},
            {"email": "ada@example.com"},
            {"email": "not-an-email", "name": "Ada"},
            {"email": "ada@example.com", "name": ""},
            {"email": "ada@example.com", "name": "   "},
            {"email": "ada@example.com", "name": "x" * 201},
            {"email": "ada@example.com", "name": "Ada", "age": -1},
            {"email": "ada@example.com", "name": "Ada", "age": 151},
            {"email": "ada@example.com", "name": "Ada", "age": 36.5},
            {"email": "ada@example.com", "name": "Ada", "age": "36"},
            {"email": "ada@example.com", "name": "Ada", "age": True},
            {"email": "ada@example.com", "name": "Ada", "isAdmin": True},
            {"email": "ada@example.com", "name": 5},
            [],
            "ada",
            None,
        ],
    )
    def test_invalid_bodies_are_400(self, api: ApiClient, body: Any) -> None:
        response = api.request("POST", "/users", raw_body=None if body is None else _json(body))

        assert response.status == 400
        assert response.body["error"] == "request validation failed"
        assert api.request("GET", "/users").body["count"] == 0

    @pytest.mark.parametrize("raw", ["{", "{'email': 1}", "", "null", "\ud800"])
    def test_malformed_json_is_400(self, api: ApiClient, raw: str) -> None:
        assert api.request("POST", "/users", raw_body=raw).status == 400

    def test_a_body_over_10_kb_is_413(self, api: ApiClient) -> None:
        response = api.request("POST", "/users", {"email": "a@example.com", "name": "x" * 11_000})

        assert response.status == 413
        assert "error" in response.body

    def test_a_base64_encoded_json_body_is_read(self, api: ApiClient) -> None:
        # API Gateway sends a body base64-encoded when it takes it for binary.
        import base64

        from src.handlers import api_handler

        raw = '{"email": "ada@example.com", "name": "Ada"}'
        event = ApiClient.event("POST", "/users", raw_body=base64.b64encode(raw.encode()).decode())
        event["isBase64Encoded"] = True

        response = ApiClient.parse(api_handler.handler(event, LambdaContext()))

        assert response.status == 201
        assert response.body["email"] == "ada@example.com"

    def test_invalid_base64_body_is_400(self, api: ApiClient) -> None:
        event = ApiClient.event("POST", "/users", raw_body="%%%not base64")
        event["isBase64Encoded"] = True
        from src.handlers import api_handler

        assert api_handler.handler(event, LambdaContext())["statusCode"] == 400

    @pytest.mark.parametrize("email", ["ada@lab.test", "Ops@Build.Local", "x@9.invalid"])
    def test_an_address_at_a_special_use_domain_is_an_address(
        self, api: ApiClient, email: str
    ) -> None:
        # `format: email` allows them; the service sends no mail, so it checks syntax alone.
        response = api.request("POST", "/users", {"email": email, "name": "Ada"})

        assert response.status == 201
        assert response.body["email"] == email.lower()

    def test_a_used_email_is_409_whatever_its_case(self, api: ApiClient) -> None:
        create(api, "ada@example.com")

        response = api.request("POST", "/users", {"email": "ADA@example.com", "name": "Other"})

        assert response.status == 409
        assert api.request("GET", "/users").body["count"] == 1

    def test_deleting_a_user_frees_the_email(self, api: ApiClient) -> None:
        user = create(api, "ada@example.com")
        assert api.request("DELETE", f"/users/{user['userId']}").status == 204

        assert create(api, "ada@example.com")["userId"] != user["userId"]

    @pytest.mark.usefixtures("serializable_dynamodb")
    def test_concurrent_creates_with_one_email_give_one_201_and_the_rest_409(
        self, api: ApiClient, users_table: str
    ) -> None:
        # Lambda runs one invocation per execution environment at a time, so concurrent
        # creates come from separate environments: here each thread has its own service and
        # DynamoDB client and the race is decided by DynamoDB alone. The HTTP mapping of the
        # outcome is the one tested above.
        import boto3

        from src.core.errors import EmailAlreadyUsed
        from src.models.users import Caller, CreateUserRequest
        from src.repositories.users import UserRepository
        from src.services.users import UserService

        statuses: list[int] = []
        barrier = threading.Barrier(8)

        def attempt(index: int) -> None:
            repository = UserRepository(boto3.client("dynamodb"), users_table)
            service = UserService(repository)
            request = CreateUserRequest(email="race@example.com", name=f"Racer {index}")
            barrier.wait()
            try:
                service.create_user(Caller(admin=True), request)
                statuses.append(201)
            except EmailAlreadyUsed:
                statuses.append(409)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(statuses) == [201] + [409] * 7
        listed = api.request("GET", "/users").body
        assert listed["count"] == 1
        assert listed["users"][0]["email"] == "race@example.com"


class TestGet:
    def test_unknown_user_is_404(self, api: ApiClient) -> None:
        response = api.request("GET", "/users/3f1c2a9e-8d4b-4a51-9a43-0c6f1e2b7d10")

        assert response.status == 404
        assert response.body == {"error": "user 3f1c2a9e-8d4b-4a51-9a43-0c6f1e2b7d10 not found"}

    def test_an_email_claim_is_not_a_user(self, api: ApiClient) -> None:
        create(api, "ada@example.com")

        assert api.request("GET", "/users/email%23ada@example.com").status == 404
        assert api.request("GET", "/users/email#ada@example.com").status == 404


class TestUpdate:
    def test_changes_only_the_given_fields_and_sets_updated_at(self, api: ApiClient) -> None:
        user = create(api, age=36)

        response = api.request("PUT", f"/users/{user['userId']}", {"name": "Augusta"})

        assert response.status == 200
        assert response.body["name"] == "Augusta"
        assert response.body["age"] == 36
        assert response.body["email"] == user["email"]
        assert response.body["createdAt"] == user["createdAt"]
        assert ISO_UTC.match(response.body["updatedAt"])
        assert api.request("GET", f"/users/{user['userId']}").body == response.body

    def test_age_zero_is_a_value_and_null_removes_it(self, api: ApiClient) -> None:
        user = create(api, age=36)

        zero = api.request("PUT", f"/users/{user['userId']}", {"age": 0})
        removed = api.request("PUT", f"/users/{user['userId']}", {"age": None})

        assert zero.body["age"] == 0
        assert removed.status == 200
        assert "age" not in removed.body
        assert removed.body["name"] == "Ada"

    @pytest.mark.parametrize(
        "body",
        [{}, {"email": "b@example.com"}, {"name": ""}, {"name": None}, {"age": 200}, {"x": 1}],
    )
    def test_invalid_changes_are_400_and_change_nothing(
        self, api: ApiClient, body: dict[str, Any]
    ) -> None:
        user = create(api, age=36)

        assert api.request("PUT", f"/users/{user['userId']}", body).status == 400
        assert api.request("GET", f"/users/{user['userId']}").body == user

    def test_unknown_user_is_404_and_nothing_is_created(self, api: ApiClient) -> None:
        response = api.request("PUT", "/users/nobody", {"name": "Ghost"})

        assert response.status == 404
        assert api.request("GET", "/users/nobody").status == 404
        assert api.request("GET", "/users").body["count"] == 0

    def test_an_email_claim_cannot_be_updated(self, api: ApiClient) -> None:
        create(api, "ada@example.com")

        assert api.request("PUT", "/users/email#ada@example.com", {"name": "x"}).status == 404


class TestDelete:
    def test_returns_204_with_an_empty_body_then_404(self, api: ApiClient) -> None:
        user = create(api)

        deleted = api.request("DELETE", f"/users/{user['userId']}")

        assert deleted.status == 204
        assert not deleted.raw_body
        assert api.request("GET", f"/users/{user['userId']}").status == 404
        assert api.request("DELETE", f"/users/{user['userId']}").status == 404

    def test_unknown_user_is_404(self, api: ApiClient) -> None:
        assert api.request("DELETE", "/users/nobody").status == 404


class TestList:
    def test_empty(self, api: ApiClient) -> None:
        response = api.request("GET", "/users")

        assert response.status == 200
        assert response.body == {"users": [], "count": 0}

    def test_pages_visit_every_user_exactly_once(self, api: ApiClient) -> None:
        created = {create(api, f"user{i}@example.com")["userId"] for i in range(23)}

        seen: list[str] = []
        pages = 0
        query: dict[str, str] = {"limit": "5"}
        while True:
            response = api.request("GET", "/users", query=query)
            assert response.status == 200
            assert response.body["count"] == len(response.body["users"]) <= 5
            seen.extend(user["userId"] for user in response.body["users"])
            pages += 1
            if "nextKey" not in response.body:
                break
            query = {"limit": "5", "lastKey": response.body["nextKey"]}

        assert pages == 5
        assert sorted(seen) == sorted(created)

    def test_default_limit_is_20_and_an_exact_fit_has_no_next_key(self, api: ApiClient) -> None:
        for i in range(20):
            create(api, f"user{i}@example.com")

        response = api.request("GET", "/users")

        assert response.body["count"] == 20
        assert "nextKey" not in response.body

    @pytest.mark.parametrize(
        "limit", ["0", "101", "-1", "ten", "1.5", "", "5_0", "1.0", "+5", " 5", "5 ", "\u0665"]
    )
    def test_bad_limit_is_400(self, api: ApiClient, limit: str) -> None:
        assert api.request("GET", "/users", query={"limit": limit}).status == 400

    def test_a_limit_not_in_plain_digits_is_named(self, api: ApiClient) -> None:
        response = api.request("GET", "/users", query={"limit": "5_0"})

        assert response.status == 400
        assert response.body["details"] == [
            {
                "loc": ["query", "limit"],
                "msg": "should be written as plain digits",
                "type": "value_error",
            }
        ]

    @pytest.mark.parametrize(
        "last_key",
        [
            "!!!",
            "",
            "eyJ1IjoiZW1haWwjYUBiLmMifQ",  # 26 characters
            "AAAAAAAAAAAAAAAAAAAAAB",  # 22, but the last one carries bits past the 128th
            "AAAAAAAAAAAAAAAAAAAA+A",  # not base64url
            "3f1c2a9e-8d4b-4a51-9a43-0c6f1e2b7d10",  # a user id is not a cursor
        ],
    )
    def test_a_last_key_outside_the_cursor_shape_is_400(
        self, api: ApiClient, last_key: str
    ) -> None:
        response = api.request("GET", "/users", query={"lastKey": last_key})

        assert response.status == 400
        assert response.body["error"] == "request validation failed"
        assert [detail["loc"] for detail in response.body["details"]] == [["query", "lastKey"]]

    def test_any_last_key_of_the_cursor_shape_is_a_page(self, api: ApiClient) -> None:
        for i in range(3):
            create(api, f"user{i}@example.com")
        issued = api.request("GET", "/users", query={"limit": "1"}).body["nextKey"]

        for last_key in (issued, "A" * 22, "_" * 21 + "w", "Zm9vYmFyYmF6cXV4cXV1eA"):
            response = api.request("GET", "/users", query={"lastKey": last_key})

            assert response.status == 200, last_key
            assert response.body["count"] == len(response.body["users"]) <= 3


class TestRouting:
    def test_unknown_path_is_404_json(self, api: ApiClient) -> None:
        response = api.request("GET", "/nothing/here")

        assert response.status == 404
        assert response.body == {"error": "not found"}

    @pytest.mark.parametrize(
        ("method", "path", "allowed"),
        [
            ("PATCH", "/users", {"GET", "POST", "OPTIONS"}),
            ("DELETE", "/users", {"GET", "POST", "OPTIONS"}),
            ("POST", "/users/abc", {"GET", "PUT", "DELETE", "OPTIONS"}),
        ],
    )
    def test_known_path_with_another_method_is_405_with_allow(
        self, api: ApiClient, method: str, path: str, allowed: set[str]
    ) -> None:
        response = api.request(method, path)

        assert response.status == 405
        assert set(response.headers["Allow"].replace(" ", "").split(",")) == allowed

    def test_every_response_carries_cors_headers(self, api: ApiClient) -> None:
        responses = [
            api.request("GET", "/users"),
            api.request("GET", "/users/nobody"),
            api.request("POST", "/users", {"bad": 1}),
            api.request("GET", "/nothing"),
            api.request("GET", "/users", headers={"Origin": "https://app.example.com"}),
        ]

        for response in responses:
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"

    def test_preflight_for_any_path(self, api: ApiClient) -> None:
        response = api.request(
            "OPTIONS",
            "/users/abc",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"},
        )

        assert response.status == 204
        assert "PUT" in response.headers["Access-Control-Allow-Methods"]

    @pytest.mark.parametrize(
        "content_type",
        [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=x",
        ],
    )
    def test_a_body_that_is_not_json_is_415_and_stores_nothing(
        self, api: ApiClient, content_type: str, dynamodb: Any, users_table: str
    ) -> None:
        # A browser sends these across origins without a preflight: accepting them is CSRF.
        response = api.request(
            "POST",
            "/users",
            raw_body="email=ada%40example.com&name=Ada",
            headers={"Content-Type": content_type},
        )

        assert response.status == 415
        assert dynamodb.scan(TableName=users_table)["Count"] == 0

    def test_a_json_body_without_a_content_type_is_415_and_stores_nothing(
        self, api: ApiClient, dynamodb: Any, users_table: str
    ) -> None:
        # What a browser's fetch() sends across origins without a preflight for a string body
        # whose type it is not told (text/plain), or what a client sends with none.
        from src.handlers import api_handler

        event = api.event("POST", "/users", {"email": "ada@example.com", "name": "Ada"})
        for headers in (event.get("headers") or {}, event.get("multiValueHeaders") or {}):
            for name in [name for name in headers if name.lower() == "content-type"]:
                del headers[name]

        response = api.parse(api_handler.handler(event, LambdaContext()))

        assert (response.status, response.body) == (
            415,
            {"error": "send the body as application/json"},
        )
        assert dynamodb.scan(TableName=users_table)["Count"] == 0

    def test_json_with_a_charset_is_json(self, api: ApiClient) -> None:
        response = api.request(
            "POST",
            "/users",
            raw_body='{"email": "ada@example.com", "name": "Ada"}',
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

        assert response.status == 201

    @pytest.mark.parametrize("path", ["/users?limt=5", "/users/abc?verbose=1"])
    def test_an_undeclared_query_parameter_is_400(self, api: ApiClient, path: str) -> None:
        route, query = path.split("?")
        name, value = query.split("=")
        response = api.request("GET", route, query={name: value})

        assert response.status == 400
        assert name in response.body["error"]

    @pytest.mark.parametrize(
        ("name", "values"),
        [
            ("lastKey", ["!!!", "A" * 22]),
            ("lastKey", ["A" * 22, "A" * 22]),
            ("limit", ["5", "100"]),
        ],
    )
    def test_a_query_parameter_given_twice_is_400(
        self, api: ApiClient, name: str, values: list[str]
    ) -> None:
        # API Gateway puts the last value in queryStringParameters and every value in
        # multiValueQueryStringParameters; the document declares one value per parameter.
        event = api.event("GET", "/users", query={name: values[-1]})
        event["multiValueQueryStringParameters"] = {name: values}

        from src.handlers import api_handler

        response = api.parse(api_handler.handler(event, LambdaContext()))

        assert response.status == 400
        assert response.body["error"] == f"query parameter given more than once: {name}"


class TestUnexpectedErrors:
    def test_a_failure_is_a_500_with_a_request_id_and_no_internals(
        self, api: ApiClient, dynamodb: Any, users_table: str
    ) -> None:
        dynamodb.delete_table(TableName=users_table)
        context = LambdaContext()
        from src.handlers import api_handler

        response = ApiClient.parse(
            api_handler.handler(ApiClient.event("GET", "/users/abc"), context)
        )

        assert response.status == 500
        assert response.body == {
            "error": "internal server error",
            "requestId": context.aws_request_id,
        }


class TestOpenApi:
    def test_documents_every_route_with_request_and_response_schemas(self, api: ApiClient) -> None:
        response = api.request("GET", "/openapi.json")

        assert response.status == 200
        document = response.body
        paths = document["paths"]
        assert set(paths["/users"]) == {"get", "post"}
        assert set(paths["/users/{userId}"]) == {"get", "put", "delete"}
        schemas = document["components"]["schemas"]
        assert {"CreateUserRequest", "UpdateUserRequest", "User", "UserPage", "ErrorBody"} <= set(
            schemas
        )
        post = paths["/users"]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/CreateUserRequest"
        )
        assert {"201", "400", "409"} <= set(post["responses"])
        for path, operations in paths.items():
            for method, operation in operations.items():
                # Invalid input is a 400; 422 is an Idempotency-Key used with another request.
                keyed = (method, path) in {("post", "/users"), ("post", "/uploads")}
                assert ("422" in operation["responses"]) is keyed
                assert {"400", "503"} <= set(operation["responses"])

    def test_documents_each_parameter_with_its_bounds(self, api: ApiClient) -> None:
        paths = api.request("GET", "/openapi.json").body["paths"]

        listed = {param["name"]: param for param in paths["/users"]["get"]["parameters"]}
        (user_id,) = paths["/users/{userId}"]["get"]["parameters"]

        assert listed["limit"]["in"] == "query"
        assert not listed["limit"]["required"]
        assert (
            listed["limit"]["schema"] | {"minimum": 1, "maximum": 100, "default": 20}
            == (listed["limit"]["schema"])
        )
        assert listed["lastKey"]["schema"]["anyOf"][0]["pattern"] == "^[A-Za-z0-9_-]{21}[AQgw]$"
        assert user_id["in"] == "path"
        assert user_id["required"]
        assert user_id["schema"]["maxLength"] == 128

    def test_links_lead_from_a_returned_user_to_the_operations_on_it(self, api: ApiClient) -> None:
        paths = api.request("GET", "/openapi.json").body["paths"]
        operations = {
            operation["operationId"]: operation
            for methods in paths.values()
            for operation in methods.values()
        }

        expected = {
            "GetUser": {
                "operationId": "get_user",
                "parameters": {"userId": "$response.body#/userId"},
            },
            "UpdateUser": {
                "operationId": "update_user",
                "parameters": {"userId": "$response.body#/userId"},
            },
            "DeleteUser": {
                "operationId": "delete_user",
                "parameters": {"userId": "$response.body#/userId"},
            },
        }
        assert paths["/users"]["post"]["responses"]["201"]["links"] == expected
        assert paths["/users/{userId}"]["put"]["responses"]["200"]["links"] == expected
        for link in expected.values():
            names = [
                parameter["name"] for parameter in operations[link["operationId"]]["parameters"]
            ]
            assert names == ["userId"]


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def test_a_response_that_breaks_its_model_is_a_500_not_a_client_error(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch, json_logs: Any
) -> None:
    from src.handlers import api_handler

    def broken_get(self: Any, user_id: str) -> Any:
        return {"userId": user_id}  # not a User: a server bug, whatever the client sent

    monkeypatch.setattr(type(api_handler.user_service()), "get_user", broken_get)

    response = api.request("GET", "/users/abc")

    assert response.status == 500
    assert response.body["error"] == "internal server error"
    assert any(record["level"] == "ERROR" for record in json_logs.records())


class TestDocs:
    def test_the_page_renders_the_services_own_document_with_packaged_assets(
        self, api: ApiClient
    ) -> None:
        page = api.request("GET", "/docs")

        assert page.status == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert page.raw_body is not None
        assert 'url: "openapi.json"' in page.raw_body
        assert "https://" not in page.raw_body  # no CDN
        for asset, kind in (("swagger-ui.css", "text/css"), ("swagger-ui-bundle.js", "javascript")):
            assert f'"docs/{asset}"' in page.raw_body
            served = api.request("GET", f"/docs/{asset}")
            assert served.status == 200
            assert kind in served.headers["Content-Type"]
            assert len(served.raw_body or "") > 10_000

    def test_other_asset_names_are_404(self, api: ApiClient) -> None:
        for name in ("swagger-ui.js.map", "..%2F..%2Fetc%2Fpasswd", "index.html"):
            assert api.request("GET", f"/docs/{name}").status == 404
