"""The /account/v1 OpenAPI document: valid, complete, and honoured by the server
(schemathesis, authenticated with an access token carrying the `account` scope)."""

from __future__ import annotations

import re
import tempfile

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance

from idp import create_app
from idp.account import PREFIX
from idp.config import Settings
from tests.accounts import account_token
from tests.factories import make_user

SPEC_URL = f"{PREFIX}/openapi.json"
METHODS = {"get", "post", "put", "patch", "delete"}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _operations(document: dict) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


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
    document = client.get(SPEC_URL).get_json()
    served = {
        (method, _openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(PREFIX + "/") and rule.rule != SPEC_URL
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert served, "no account routes registered"
    assert _operations(document) == served
    for _, path in _operations(document):
        assert path.startswith(PREFIX + "/")


def _documented_operations() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="idp-openapi-") as instance:
        settings_ = Settings(
            issuer="http://localhost", instance_path=instance, secret_key="openapi-collection"
        )
        document = create_app(settings_).test_client().get(SPEC_URL).get_json()
    return sorted(_operations(document))


# One test per documented operation (schemathesis' pytest fixture loader fails on pytest 9).
@pytest.mark.parametrize(
    ("method", "path"), [pytest.param(*op, id=" ".join(op)) for op in _documented_operations()]
)
def test_api_honours_its_document(app: Flask, method: str, path: str) -> None:
    user = make_user(app)
    token = account_token(app, app.test_client(), user)
    operation = schemathesis.openapi.from_wsgi(SPEC_URL, app)[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=10,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"},
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        )

    check()
