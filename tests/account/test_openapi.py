"""The /account/v1 OpenAPI document: valid, complete, and honoured by the server
(schemathesis, authenticated with an access token carrying the `account` scope)."""

from __future__ import annotations

import pytest
from flask import Flask

from idp.account import PREFIX
from tests.accounts import account_token
from tests.factories import make_user
from tests.openapi_checks import documented_operations
from tests.openapi_checks import honours_document
from tests.openapi_checks import operations
from tests.openapi_checks import served

SPEC_URL = f"{PREFIX}/openapi.json"


def test_document_is_valid_openapi_3(client):
    from openapi_spec_validator import validate

    response = client.get(SPEC_URL)  # no credential needed
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["info"]["title"] == "IdP Account API"
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["session"]["in"] == "cookie"


def test_document_lists_every_account_route_and_no_management_one(app: Flask, client):
    documented = operations(client.get(SPEC_URL).get_json())
    routes = served(app, PREFIX, {SPEC_URL})
    assert routes, "no account routes registered"
    assert documented == routes
    assert all(path.startswith(PREFIX + "/") for _, path in documented)


@pytest.mark.parametrize(
    ("method", "path"),
    [pytest.param(*op, id=" ".join(op)) for op in documented_operations(SPEC_URL)],
)
def test_api_honours_its_document(app: Flask, method: str, path: str) -> None:
    token = account_token(app, app.test_client(), make_user(app))
    honours_document(app, SPEC_URL, method, path, headers={"Authorization": f"Bearer {token}"})
