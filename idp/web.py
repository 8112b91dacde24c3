"""Glue shared by the HTML and OAuth views: the SSO cookie, the audit actor, error pages."""

from __future__ import annotations

from flask import Response
from flask import g
from flask import render_template
from flask import request

from idp import runtime
from idp.extensions import db
from idp.models import BrowserSession
from idp.models import User
from idp.services import audit
from idp.services import sessions

SESSION_COOKIE = "idp_sso"


def actor(kind: str = "anonymous", actor_id: str | None = None) -> audit.Actor:
    return audit.Actor(kind, actor_id, ip=request.remote_addr, user_agent=request.user_agent.string)


def current_session() -> BrowserSession | None:
    """The live SSO session of this browser, looked up once per request."""
    if "browser_session" not in g:
        g.browser_session = sessions.find_active(request.cookies.get(SESSION_COOKIE))
    return g.browser_session


def current_user() -> User | None:
    session = current_session()
    return db.session.get(User, session.user_id) if session is not None else None


def set_session_cookie(response: Response, token: str) -> None:
    settings = runtime.settings()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_lifetime,
        httponly=True,
        secure=settings.https,
        samesite="Lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    settings = runtime.settings()
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.https, httponly=True, samesite="Lax"
    )


def error_page(error: str, description: str | None, status: int = 400) -> tuple[str, int]:
    return render_template(
        "error.html", error=error, description=description, status=status
    ), status
