"""Shared by the OpenAPI tests of the management and account APIs: which operations a
document lists, which routes the app serves, and a schemathesis run of one operation."""

from __future__ import annotations

import re
import tempfile
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance

from idp import create_app
from idp.config import Settings

METHODS = {"get", "post", "put", "patch", "delete"}


def openapi_path(rule: str) -> str:
    """A Werkzeug rule as an OpenAPI path: /users/<user_id> -> /users/{user_id}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def served(app: Flask, prefix: str, exclude: set[str]) -> set[tuple[str, str]]:
    return {
        (method, openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(prefix + "/") and rule.rule not in exclude
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def documented_operations(spec_url: str) -> list[tuple[str, str]]:
    """Every documented operation, read at collection time from an app built only for this
    (the document does not depend on the database)."""
    with tempfile.TemporaryDirectory(prefix="idp-openapi-") as instance:
        settings_ = Settings(
            issuer="http://localhost", instance_path=instance, secret_key="openapi-collection"
        )
        document = create_app(settings_).test_client().get(spec_url).get_json()
    return sorted(operations(document))


def honours_document(
    app: Flask,
    spec_url: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    existing: dict[str, str] | None = None,
) -> None:
    """Ten generated requests to one operation: no 5xx, responses and content types as
    documented. Half address the `existing` resources, so item routes get past their 404.
    (schemathesis' own pytest loader fails on pytest 9, so this drives Hypothesis itself.)"""
    operation = schemathesis.openapi.from_wsgi(spec_url, app)[path][method]
    wanted = {name: value for name, value in (existing or {}).items() if f"{{{name}}}" in path}
    strategy = operation.as_strategy()
    if wanted:
        strategy = strategy | operation.as_strategy(path_parameters=wanted)

    @given(case=strategy)
    @settings(
        max_examples=10,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers=headers,
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        )

    check()
