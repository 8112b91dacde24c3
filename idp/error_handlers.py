"""Every error mapped to the wire once per surface (STYLE rule 10): problem+json on the JSON
APIs, RFC 6749-style JSON on OAuth endpoints, the HTML error page everywhere else."""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import jsonify
from flask import render_template
from flask import request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from idp import errors
from idp.management import PREFIX as MANAGEMENT_PREFIX
from idp.management.problems import field_errors
from idp.management.problems import problem

OAUTH_JSON_PATHS = (
    "/token", "/userinfo", "/jwks.json", "/.well-known/", "/revoke", "/introspect", "/par",
)  # fmt: skip
API_PATHS = (MANAGEMENT_PREFIX + "/", "/account/v1/")


def _is_api() -> bool:
    return request.path.startswith(API_PATHS)


def _render(error: str, description: str, status: int) -> Response:
    if request.path.startswith(OAUTH_JSON_PATHS):
        response = jsonify(error=error, error_description=description)
    else:
        response = Response(
            render_template("error.html", error=error, description=description, status=status)
        )
    response.status_code = status
    return response


def register(app: Flask) -> None:
    from idp.extensions import db

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response:
        if _is_api():
            return problem(400, "CSRF token missing or invalid", "Send the page's X-CSRFToken.")
        return _render(
            "invalid_request", "The form has expired. Go back, reload and try again.", 400
        )

    @app.errorhandler(errors.IdPError)
    def domain_error(exc: errors.IdPError) -> Response:
        db.session.rollback()
        if not _is_api():
            return _render(exc.type, exc.detail, exc.status)
        headers = {}
        if isinstance(exc, errors.AuthenticationFailed):
            realm = "account" if request.path.startswith("/account/") else "management"
            headers["WWW-Authenticate"] = f'Bearer realm="{realm}"'
            if isinstance(exc, errors.ReauthenticationRequired):  # RFC 9470 §3
                headers["WWW-Authenticate"] += (
                    ', error="insufficient_user_authentication"'
                    ', error_description="A more recent sign-in is required"'
                    f", max_age={exc.max_age}"
                )
        if isinstance(exc, errors.RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        return problem(
            exc.status,
            exc.title,
            exc.detail,
            type_=exc.type,
            errors=getattr(exc, "field_errors", None),
            headers=headers,
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        allow = exc.get_response().headers.get("Allow")
        if _is_api():
            data = getattr(exc, "data", None) or {}
            messages = data.get("messages") or data.get("errors")
            response = problem(
                status,
                exc.name,
                "The request has invalid fields" if messages else exc.description,
                errors=field_errors(messages) if messages else None,
            )
        else:
            slug = {404: "not_found", 429: "rate_limited"}.get(
                status, "invalid_request" if status < 500 else "server_error"
            )
            response = _render(slug, exc.description or "", status)
        if allow:
            response.headers["Allow"] = allow  # RFC 9110 §15.5.6
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api():
            return problem(500, "Internal Server Error", "Something went wrong on our side.")
        return _render("server_error", "Something went wrong on our side.", 500)
