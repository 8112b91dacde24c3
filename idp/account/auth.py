"""Who is calling /account/v1 (DESIGN §5): a user's access token carrying the `account`
scope, or the hosted pages' session cookie. A cookie-authenticated write must also carry the
page's CSRF token (X-CSRFToken), since a browser sends cookies on a cross-site request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from functools import wraps
from typing import Any
from typing import TypeVar

from flask import Response
from flask import g
from flask import redirect
from flask import request
from flask import url_for
from flask_smorest import Blueprint

from idp import clock
from idp import errors
from idp import runtime
from idp import web
from idp.extensions import csrf
from idp.extensions import db
from idp.models import BrowserSession
from idp.models import User
from idp.oauth.verification import InvalidToken
from idp.oauth.verification import verify_access_token
from idp.services import audit

ACCOUNT_SCOPE = "account"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class AccountCaller:
    user: User
    session: BrowserSession | None  # the browser session, when called with the cookie
    client_id: str | None  # the application, when called with an access token
    session_id: str | None = None  # the caller's browser session: the cookie's or the token's sid
    auth_time: datetime | None = None  # when the user last proved who they are

    def authenticated_within(self, seconds: int) -> bool:
        return self.auth_time is not None and clock.now() - self.auth_time <= timedelta(
            seconds=seconds
        )

    @property
    def actor(self) -> audit.Actor:
        return web.actor("user", self.user.id)


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _authenticate() -> None:
    token = _bearer()
    if token is not None:
        try:
            verified = verify_access_token(token)
        except InvalidToken as exc:
            raise errors.AuthenticationFailed(f"The access token is {exc}") from None
        if verified.user is None:
            raise errors.AuthenticationFailed("Use an access token issued to a user")
        if ACCOUNT_SCOPE not in verified.scopes:
            raise errors.Forbidden("This access token lacks the account scope")
        sid = verified.claims.get("sid")
        auth_time = verified.claims.get("auth_time")
        g.account = AccountCaller(
            verified.user,
            None,
            str(verified.claims.get("client_id")),
            sid if isinstance(sid, str) else None,
            datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int) else None,
        )
        return
    browser = web.current_session()
    if browser is None:
        raise errors.AuthenticationFailed("Sign in, or send an access token with account scope")
    if request.method not in SAFE_METHODS:
        csrf.protect()
    user = db.session.get(User, browser.user_id)
    assert user is not None  # find_active checked the user
    g.account = AccountCaller(user, browser, None, browser.id, browser.auth_time)


def recently_authenticated() -> bool:
    return current().authenticated_within(runtime.settings().recent_auth_seconds)


def require_recent_authentication() -> None:
    """Refuse (401, RFC 9470 insufficient_user_authentication with max_age) unless the
    caller signed in within `recent_auth_seconds`: a token's auth_time, or the session's."""
    if not recently_authenticated():
        raise errors.ReauthenticationRequired(runtime.settings().recent_auth_seconds)


def reauthentication_url() -> str:
    """The sign-in page, coming back here: signing in again refreshes the session's
    auth_time (the same session, so nothing else changes)."""
    return url_for("auth.login", next=request.path)


def install(blueprint: Blueprint) -> None:
    if _authenticate not in blueprint.before_request_funcs.get(None, []):
        blueprint.before_request(_authenticate)


def current() -> AccountCaller:
    caller: AccountCaller = g.account
    return caller


def signed_in_page(view: F) -> F:
    """Hosted account pages: the signed-in user, or off to the sign-in page and back."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = web.current_user()
        if user is None:
            return _to_login()
        browser = web.current_session()
        assert browser is not None  # current_user() found it
        g.account = AccountCaller(user, browser, None, browser.id, browser.auth_time)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _to_login() -> Response:
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target), code=303)
