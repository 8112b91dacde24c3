"""The end_session_endpoint: OpenID Connect RP-Initiated Logout 1.0, GET and POST (§2).

/logout checks, in this order:
1. every parameter is of a sane size;
2. id_token_hint, when given, is an ID token we issued: signature and issuer (an expired one is
   fine, §2: it only names a user and a client);
3. the client: `client_id`, or the audience of the hint; when both are given they must agree;
4. post_logout_redirect_uri, when given, is registered for that client, exactly (§3);
   otherwise an error page and never a redirect;
5. nobody is signed in: nothing to end, so answer as if done (idempotent, reveals nothing);
6. the hint names the signed-in user: end the session at once (§2 lets the OP skip asking);
7. otherwise ask the user: a GET shows the confirmation page, whose POST must carry our CSRF
   token (a cross-site page must not be able to sign people out).

Ending the session revokes its grants (services.sessions) and queues a Back-Channel Logout
token for each client that got tokens through it (services.logout); both commit together, and
the tokens are delivered by a background thread once the user already has the answer.
"""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from flask import Blueprint
from flask import Response
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.datastructures import MultiDict

from idp import runtime
from idp import security
from idp import web
from idp.extensions import csrf
from idp.extensions import db
from idp.models import BrowserSession
from idp.models import Client
from idp.models import User
from idp.oauth import backchannel
from idp.oauth import subjects
from idp.oauth import tokens
from idp.oauth.verification import MAX_TOKEN_LENGTH
from idp.oauth.verification import InvalidToken
from idp.oauth.verification import verify_id_token_hint
from idp.services import audit
from idp.services import clients
from idp.services import logout

bp = Blueprint("logout", __name__)

PARAMETERS = (
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
    "logout_hint",
)
MAX_PARAMETER = 2048


class Refused(Exception):
    """The request is not acceptable: show the error page, end nothing, redirect nowhere."""


@bp.route("/logout", methods=["GET", "POST"])
@csrf.exempt  # checked in the view: an RP's POST with a matching hint needs no token (§2)
def end_session() -> Response | str | tuple[str, int]:
    try:
        params = _parameters(request.form if request.method == "POST" else request.args)
        hint = _verified_hint(params.get("id_token_hint"))
        client = _client(params.get("client_id"), hint)
        target = _redirect_target(params.get("post_logout_redirect_uri"), client)
    except Refused as exc:
        return web.error_page("invalid_request", str(exc))

    session = web.current_session()
    user = web.current_user()
    if session is None or user is None:
        return _finish(target, params.get("state"))
    if hint is not None and _names_user(hint, user, client):
        return _end(session, target, params.get("state"))
    if request.method == "GET":
        return _confirmation(params, client, user)
    csrf.protect()  # the confirmation form (or our home page's sign-out button)
    if request.form.get("decision") == "stay":
        return redirect(url_for("auth.home"), code=303)
    return _end(session, target, params.get("state"))


def _parameters(source: MultiDict[str, str]) -> dict[str, str]:
    """The non-empty logout parameters; an oversized one refuses the whole request."""
    params = {name: source.get(name, "") for name in PARAMETERS}
    for name, value in params.items():
        if len(value) > (MAX_TOKEN_LENGTH if name == "id_token_hint" else MAX_PARAMETER):
            raise Refused(f"The {name} parameter is too long.")
    return {name: value for name, value in params.items() if value}


def _verified_hint(token: str | None) -> dict | None:
    if token is None:
        return None
    try:
        return verify_id_token_hint(token)
    except InvalidToken as exc:
        raise Refused(f"The id_token_hint is {exc}.") from None


def _client(client_id: str | None, hint: dict | None) -> Client | None:
    """§2: client_id identifies the client; with a hint too, it must be one of its audience."""
    if client_id is not None:
        client = clients.get_by_client_id(client_id)
        if client is None:
            raise Refused("Unknown client_id.")
        if hint is not None and client_id not in hint["aud"]:
            raise Refused("The client_id does not match the id_token_hint.")
        return client
    if hint is None:
        return None
    audience = [str(a) for a in hint["aud"]]
    hinted = hint.get("azp") or (audience[0] if len(audience) == 1 else None)
    return clients.get_by_client_id(str(hinted)) if hinted else None  # None: since deleted


def _redirect_target(uri: str | None, client: Client | None) -> str | None:
    """§3: only a URI registered for the identified client, compared exactly."""
    if uri is None:
        return None
    if client is None:
        raise Refused("A post_logout_redirect_uri needs a client_id or an id_token_hint.")
    if not any(security.constant_time_equals(uri, u) for u in client.post_logout_redirect_uris):
        raise Refused("The post_logout_redirect_uri is not registered for this client.")
    return uri


def _names_user(hint: dict, user: User, client: Client | None) -> bool:
    """Is the hint about the signed-in user, as this client knows them (pairwise or not)?"""
    if client is not None and client.tenant_id != user.tenant_id:
        return False
    expected = subjects.subject_for(user, client) if client is not None else user.id
    return security.constant_time_equals(str(hint.get("sub", "")), expected)


class SessionEnder:
    """Ends browser sessions as a logout does: each call queues the Back-Channel Logout of
    the session's relying parties; `deliver`, once the caller has committed, sends them
    without making the user wait."""

    def __init__(self, actor: audit.Actor) -> None:
        self.actor = actor
        self.row_ids: list[str] = []

    def __call__(self, session: BrowserSession, reason: str = "logout") -> None:
        outbox = logout.end_session(
            session,
            actor=self.actor,
            issuer=runtime.settings().issuer,
            sign=tokens.sign,
            subject_for=subjects.subject_for,
            reason=reason,
        )
        self.row_ids.extend(row.id for row in outbox)

    def deliver(self) -> None:
        if self.row_ids:
            backchannel.start(current_app._get_current_object(), self.row_ids)  # type: ignore[attr-defined]


def end_and_notify(session: BrowserSession, *, reason: str = "logout") -> None:
    """End a browser session, commit, then tell its relying parties (Back-Channel Logout)
    without making the user wait."""
    ender = SessionEnder(web.actor("user", session.user_id))
    ender(session, reason)
    db.session.commit()
    ender.deliver()


def _end(session: BrowserSession, target: str | None, state: str | None) -> Response:
    end_and_notify(session)
    return _finish(target, state)


def _finish(target: str | None, state: str | None) -> Response:
    if target is not None:
        location = add_params_to_uri(target, {"state": state}) if state else target
        response = redirect(location, code=303)
    else:
        response = Response(render_template("logged_out.html"))
    web.clear_session_cookie(response)
    return response


def _confirmation(params: dict[str, str], client: Client | None, user: User) -> str:
    return render_template(
        "logout_confirm.html",
        action=url_for("logout.end_session"),
        fields=params,
        client_name=client.name if client is not None else None,
        user_email=user.email,
    )
