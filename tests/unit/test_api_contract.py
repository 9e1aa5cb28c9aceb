"""The controller's HTTP contract (issue 14): every route declares what it answers, ``/openapi.json``
documents every JSON body, and every failure — the platform's own errors, FastAPI's request
validation, unknown paths and methods — answers one shape, ``{"error": message}`` with the message
in ``X-Error-Message``. Through the real app on the fast tier's Redis, with a data directory of the
test's own (nothing here reaches the platform's)."""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Iterator

import pytest
from fastapi.datastructures import DefaultPlaceholder
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from controller import deps
from controller.app import app as platform_app
from core import accounts, keys, sessions, store
from core.settings import get_settings

# Routes FastAPI or Starlette serve themselves (the API's documentation, the static files).
NOT_OURS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static"}


@pytest.fixture
def client(redis_db, tmp_path) -> Iterator[TestClient]:
    """The platform's app on the fast tier's Redis, with its data directory in ``tmp_path``."""
    before = os.environ.get("SPACES_DATA_DIR")
    os.environ["SPACES_DATA_DIR"] = str(tmp_path)
    get_settings.cache_clear()
    platform_app.dependency_overrides[deps.get_store] = lambda: redis_db
    try:
        with TestClient(platform_app, base_url=get_settings().public_url(get_settings().domain)) as test_client:
            yield test_client
    finally:
        platform_app.dependency_overrides.pop(deps.get_store, None)
        if before is None:
            os.environ.pop("SPACES_DATA_DIR", None)
        else:
            os.environ["SPACES_DATA_DIR"] = before
        get_settings.cache_clear()


@pytest.fixture
def people(redis_db) -> dict[str, dict[str, str]]:
    """Bearer headers: olive (write token), olive's read token, a stranger; and nobody."""
    accounts.create_user(redis_db, "olive")
    accounts.create_user(redis_db, "stan")
    return {
        "owner": {"Authorization": f"Bearer {accounts.create_token(redis_db, 'olive')}"},
        "owner-read": {"Authorization": f"Bearer {accounts.create_token(redis_db, 'olive', role='read', display_name='ro')}"},
        "stranger": {"Authorization": f"Bearer {accounts.create_token(redis_db, 'stan')}"},
        "anonymous": {},
    }


def space(r, name: str, visibility: str = "public") -> str:
    space_id = f"olive/{name}"
    store.create_space(r, space_id, sdk="gradio")
    r.hset(keys.space(space_id), "visibility", visibility)
    return space_id


def routes(application) -> Iterator[typing.Any]:
    """Every route the application serves, routers included (FastAPI 0.16x includes them lazily)."""
    for route in application.routes:
        if hasattr(route, "path"):
            yield route
        else:
            yield from route.effective_route_contexts()


def names_a_model(annotation: object) -> bool:
    """A Pydantic model, or a list or dict of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(names_a_model(arg) for arg in typing.get_args(annotation))


def test_every_route_declares_what_it_answers():
    """A JSON route has a Pydantic response model; any other names its response class. A new
    route that answers a bare ``dict`` (or forgets to say) fails here."""
    undeclared, unknown = [], []
    for route in routes(platform_app):
        where = f"{sorted(getattr(route, 'methods', None) or [])} {route.path}"
        if not hasattr(route, "response_class"):  # not a FastAPI route
            if route.path not in NOT_OURS:
                unknown.append(where)
            continue
        response_class = route.response_class
        answers_json = isinstance(response_class, DefaultPlaceholder) or issubclass(response_class, JSONResponse)
        if answers_json and not names_a_model(route.response_model):
            undeclared.append(f"{where}: {route.response_model!r}")
    assert not undeclared, "JSON routes without a Pydantic response model:\n" + "\n".join(undeclared)
    assert not unknown, "routes that are not FastAPI routes:\n" + "\n".join(unknown)


def test_openapi_documents_every_json_answer_and_the_error_shape(client):
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(schema), "a 422 documented as FastAPI's {'detail': [...]}"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            error = answers.get("4XX", {}).get("content", {}).get("application/json", {}).get("schema", {})
            assert error == {"$ref": "#/components/schemas/ErrorBody"} or error.get("title") == "ErrorBody", (method, path)
            for status, answer in answers.items():
                body = answer.get("content", {}).get("application/json")
                if status.startswith("2") and body is not None:
                    assert "$ref" in json.dumps(body["schema"]), f"{method} {path} {status}: {body}"
    components = schema["components"]["schemas"]
    ok = {(m, p): op["responses"] for p, ops in schema["paths"].items() for m, op in ops.items()}
    assert ok[("get", "/api/spaces")]["200"]["content"]["application/json"]["schema"]["items"]["$ref"].endswith("/SpaceInfo")
    assert ok[("get", "/api/spaces/{owner}/{name}")]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/SpaceRepoInfo")
    assert ok[("post", "/api/repos/create")]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/RepoCreated")
    assert ok[("post", "/api/repos/create")]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/RepoExists")
    assert ok[("get", "/api/whoami-v2")]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/WhoAmI")
    assert "text/event-stream" in ok[("get", "/api/spaces/{owner}/{name}/logs/build")]["200"]["content"]
    # The Hub's field names, as huggingface_hub reads them.
    assert {"_id", "lastModified", "cardData", "runtime", "sha", "siblings"} <= set(components["SpaceRepoInfo"]["properties"])
    assert {"gcTimeout", "errorMessage", "devMode"} <= set(components["SpaceRuntime"]["properties"])
    assert "short_description" in components["CardData"]["properties"]
    new_repo = components["NewRepo"]["properties"]
    assert {"name", "type", "sdk", "organization", "private", "sleepTimeSeconds", "secrets", "variables"} <= set(new_repo)


def refusal(answer, status: int) -> str:
    """The message of a refusal in the one error shape."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}, body
    assert answer.headers["x-error-message"] == body["error"].splitlines()[0][:200]
    return body["error"]


def test_a_bad_query_parameter_is_named_with_what_it_takes(client):
    message = refusal(client.get("/api/spaces?limit=5000"), 422)
    assert message == "query parameter 'limit': input should be less than or equal to 1000 (got '5000')"
    assert "'cursor'" in refusal(client.get("/api/spaces?cursor=abc"), 422)


def test_a_bad_body_is_refused_in_the_same_shape(client, people):
    create = "/api/repos/create"
    message = refusal(client.post(create, headers={**people["owner"], "Content-Type": "application/json"}, content=b"{nope"), 422)
    assert message.startswith("the request body is not valid JSON")
    assert refusal(client.post(create, headers=people["owner"], json=["space"]), 422) == "the request body must be a JSON object"
    assert refusal(client.post(create, headers=people["owner"]), 422) == "a JSON request body is required"
    # The hand checks of old keep their words and their 400.
    assert "sdk must be one of gradio, streamlit, docker, static" in refusal(
        client.post(create, headers=people["owner"], json={"name": "x", "type": "space", "sdk": "flask"}), 400)
    assert "the repo type must be 'space'" in refusal(client.post(create, headers=people["owner"], json={"name": "x"}), 400)


def test_a_field_over_its_limit_is_named_and_its_value_not_repeated(client, redis_db, people):
    space_id = space(redis_db, "vars")
    key = "SECRET_LOOKING_" + "K" * 200
    message = refusal(client.post(f"/api/spaces/{space_id}/secrets", headers=people["owner"], json={"key": key, "value": "x"}), 422)
    assert message == "body field 'key': string should have at most 128 characters" and key not in message


@pytest.mark.parametrize(("who", "status"), [("anonymous", 401), ("stranger", 404), ("owner-read", 403), ("owner", 422)])
def test_who_may_act_is_decided_before_the_body_is_read(client, redis_db, people, who, status):
    """A caller who may not change the Space learns that, whatever body they sent."""
    space_id = space(redis_db, "guarded", visibility="private")
    refusal(client.post(f"/api/spaces/{space_id}/sleeptime", headers=people[who], json={"minutes": 5}), status)


@pytest.mark.parametrize(("path", "body", "message"), [
    ("sleeptime", {"seconds": "soon"}, "seconds must be -1 (never sleep) or a whole number"),
    ("sleeptime", {"seconds": True}, "seconds must be -1 (never sleep) or a whole number"),
    ("hardware", {"flavor": None}, "flavor must be one of cpu-basic, cpu-upgrade"),
    ("storage", {"tier": 5}, "tier must be one of small, medium, large"),
])
def test_hand_checked_values_keep_their_400(client, redis_db, people, path, body, message):
    space_id = space(redis_db, "tuned")
    assert message in refusal(client.post(f"/api/spaces/{space_id}/{path}", headers=people["owner"], json=body), 400)


@pytest.mark.parametrize(("body", "message"), [
    ({"visibility": "secret"}, "visibility must be one of public, private, protected"),
    ({"private": "yes"}, "private must be true or false"),
    ({"private": True, "visibility": "public"}, "contradicts"),
    ({"gated": "auto"}, "settings accepts 'private'"),
])
def test_bad_settings_keep_their_400(client, redis_db, people, body, message):
    space_id = space(redis_db, "shown")
    assert message in refusal(client.put(f"/api/spaces/{space_id}/settings", headers=people["owner"], json=body), 400)
    assert store.require_space(redis_db, space_id).visibility == "public"


def test_unknown_paths_and_methods_answer_the_same_shape(client, people):
    assert "/api/nope" in refusal(client.get("/api/nope"), 404)
    wrong = client.put("/api/whoami-v2", headers=people["owner"])
    assert refusal(wrong, 405) == "PUT is not allowed at /api/whoami-v2; it takes GET" and wrong.headers["allow"] == "GET"


def test_a_name_that_headers_cannot_carry_is_still_a_400(client):
    """The message quotes the name; the header carries it as latin-1 can (it used to be a 500)."""
    answer = client.get("/api/spaces/olive/%F0%9F%9A%80")
    assert "invalid Space name '🚀'" in answer.json()["error"] and answer.status_code == 400
    assert answer.headers["x-error-message"].startswith("invalid Space name '?'")


def test_answers_keep_the_hubs_fields(client, redis_db, people):
    """What huggingface_hub reads stays as it was: camelCase names, ``_id``, ``cardData``'s own
    snake_case, ``sha``/``siblings`` only for those who may read the repository."""
    space_id = space(redis_db, "card", visibility="protected")
    shown = client.get(f"/api/spaces/{space_id}", headers=people["owner"]).json()
    assert set(shown) == {"_id", "id", "author", "sdk", "private", "visibility", "createdAt", "lastModified", "subdomain", "host",
                          "url", "cardData", "runtime", "sha", "siblings"}
    assert shown["sha"] is None and shown["siblings"] == []
    assert set(shown["cardData"]) == {"title", "emoji", "short_description", "sdk"}
    assert set(shown["runtime"]) == {"stage", "hardware", "storage", "gcTimeout", "replicas", "devMode", "errorMessage"}
    stranger = client.get(f"/api/spaces/{space_id}", headers=people["stranger"]).json()
    assert "sha" not in stranger and "siblings" not in stranger and stranger["_id"] == space_id
    listed = client.get("/api/spaces").json()
    assert [s["id"] for s in listed] == [space_id] and "sha" not in listed[0]
    me = client.get("/api/whoami-v2", headers=people["owner"]).json()
    assert me["email"] is None and me["auth"]["accessToken"]["role"] == "write"
    sid = sessions.start_session(redis_db, "olive")
    by_session = client.get("/api/whoami-v2", headers={"Cookie": f"{sessions.SESSION_COOKIE}={sid}"}).json()
    assert by_session["auth"] == {"type": "session"}


def test_a_failure_inside_answers_the_same_shape(client):
    """A bug answers 500 in the usual shape (the traceback goes to the log, not to the caller)."""

    def broken():
        raise RuntimeError("redis-password-in-a-traceback")

    platform_app.dependency_overrides[deps.get_store] = broken
    with TestClient(platform_app, raise_server_exceptions=False) as failing:
        message = refusal(failing.get("/api/spaces"), 500)
    assert message.startswith("internal error") and "redis-password" not in message
