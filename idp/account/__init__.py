"""The signed-in user's own account: the /account/v1 JSON API (DESIGN §5) and the hosted
account pages (/account/...).

The API accepts an access token with the `account` scope or the hosted pages' session cookie
(auth.py); it has its own OpenAPI document at /account/v1/openapi.json. Admin and
self-service never share authentication (STYLE rule 12).
"""

from __future__ import annotations

from flask import Flask

from idp.management import ManagementApi

PREFIX = "/account/v1"


class AccountApi(ManagementApi):
    """Same problem+json error documentation as the management API, another document."""


def init_account(app: Flask) -> AccountApi:
    from idp.account.api import BLUEPRINTS
    from idp.account.auth import install
    from idp.account.pages import PAGE_BLUEPRINTS
    from idp.extensions import csrf

    app.config.update(
        ACCOUNT_API_TITLE="IdP Account API",
        ACCOUNT_API_VERSION="v1",
        ACCOUNT_OPENAPI_VERSION="3.0.3",
        ACCOUNT_OPENAPI_URL_PREFIX=PREFIX,
        ACCOUNT_OPENAPI_JSON_PATH="openapi.json",
    )
    api = AccountApi(app, config_prefix="ACCOUNT_")
    api.spec.components.security_scheme(
        "bearer",
        {"type": "http", "scheme": "bearer", "description": "Access token with `account` scope"},
    )
    api.spec.components.security_scheme(
        "session",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": "idp_sso",
            "description": "The hosted pages' session; unsafe methods also need X-CSRFToken",
        },
    )
    for blueprint in BLUEPRINTS:
        install(blueprint)
        csrf.exempt(blueprint)  # auth.py checks CSRF itself for cookie-authenticated writes
        api.register_blueprint(blueprint)
    for page_blueprint in PAGE_BLUEPRINTS:
        app.register_blueprint(page_blueprint)
    return api
