"""The OpenAPI document at /api/openapi.json: valid OpenAPI 3, and describing exactly the app's HTTP API.

A route added to the app under ``/api`` without its entry in ``server/openapi_operations.py`` (or an
entry left behind when a route goes) fails here, so integrators never read a stale document.
"""

from __future__ import annotations

from pathlib import Path

from openapi_spec_validator import validate
from starlette.routing import Route

from server.app import create_app
from server.config import load_demo
from server.openapi import document
from server.openapi_operations import OPERATIONS
from tests.live import LiveServer

DOCUMENTED_OUTSIDE_API = {("GET", "/healthz"), ("GET", "/metrics")}


def app_routes() -> set[tuple[str, str]]:
    app = create_app([load_demo()], "redis://127.0.0.1:1/0", Path("var"))
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Route) and (route.path.startswith("/api/") or route.path in ("/healthz", "/metrics")):
            found |= {(method, route.path) for method in route.methods or () if method != "HEAD"}
    return found


def test_the_document_is_valid_openapi_3() -> None:
    validate(document())  # raises on any error


def test_every_api_route_is_described_and_nothing_else() -> None:
    described = {(op.method, op.path) for op in OPERATIONS}
    routes = app_routes()
    assert routes - described == set(), "routes missing from server/openapi_operations.py OPERATIONS"
    assert described - routes == set(), "described operations that the app does not serve"
    assert described >= DOCUMENTED_OUTSIDE_API
    assert len(described) == len(OPERATIONS), "an operation is described twice"


def test_bodies_are_the_handlers_own_models() -> None:
    from server import ticket_bodies

    issue = document()["paths"]["/api/halls/{hall}/tickets"]["post"]
    assert issue["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Issue"}
    schema = document()["components"]["schemas"]["Issue"]
    assert set(schema["properties"]) == set(ticket_bodies.Issue.model_fields)
    assert schema["required"] == ["services"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["id_number"]["maxLength"] == 32
    assert schema["properties"]["lang"]["nullable"] is True  # null means absent
    keys = document()["components"]["schemas"]["PushSubscription"]["properties"]["keys"]
    assert keys == {"$ref": "#/components/schemas/PushKeys"}  # nested models are components too
    actions = document()["paths"]["/api/halls/{hall}/windows/{window}/actions"]["post"]
    assert actions["security"] == [{"bearer": []}, {"session": []}]
    assert "401" in actions["responses"] and "409" in actions["responses"]


def test_the_server_publishes_it(live_server: LiveServer) -> None:
    status, body = live_server.request("GET", "/api/openapi.json")
    assert status == 200
    assert body == document()
    assert body["openapi"].startswith("3.")
