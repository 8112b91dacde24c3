"""/management/v1: the admin API (DESIGN §5). One flask-smorest blueprint per resource.

Authentication (auth.py) accepts API keys and client_credentials access tokens carrying
management scopes. Errors are RFC 9457 problem+json (problems.py).
"""

from __future__ import annotations

import http
from typing import Any

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import Schema
from marshmallow import fields

from idp.management.problems import PROBLEM_JSON

PREFIX = "/management/v1"


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error of this API is sent."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.Dict(metadata={"description": "Messages per field, for invalid input"})


class ManagementApi(Api):
    """flask-smorest's Api without its app-wide error handler (idp/error_handlers.py maps
    errors per surface), documenting errors as the problem+json they are."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        return None

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = ProblemSchema
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (RFC 9457 problem details)", "schema": ProblemSchema}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def init_management(app: Flask) -> ManagementApi:
    from idp.extensions import csrf
    from idp.management.auth import install as install_auth
    from idp.management.docs import bp as docs_bp
    from idp.management.resources import BLUEPRINTS

    app.config.update(
        API_TITLE="IdP Management API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = ManagementApi(app)
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "API key or access token"}
    )
    api.spec.components.security_scheme(
        "apiKey", {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    )
    for blueprint in BLUEPRINTS:
        install_auth(blueprint)
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint)
    app.register_blueprint(docs_bp)  # GET /management/v1/docs, no credential needed
    return api
