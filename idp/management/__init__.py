"""/management/v1: the admin API (DESIGN §5). One flask-smorest blueprint per resource.

Authentication (auth.py) accepts API keys and client_credentials access tokens carrying
management scopes. Errors are RFC 9457 problem+json (problems.py).
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

PREFIX = "/management/v1"


class ManagementApi(Api):
    """flask-smorest's Api without its app-wide error handler: idp/__init__.py maps errors per
    surface (problem+json here, HTML on pages, RFC 6749 on OAuth endpoints)."""

    def _register_error_handlers(self) -> None:
        return None


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
