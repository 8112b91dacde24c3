"""OAuth 2.0 / OpenID Connect endpoints: authorize, token, userinfo, JWKS, discovery.

/authorize checks the request in this order (node-oidc-provider style, each check visible):
client and redirect_uri (else an error page, never a redirect), response_type, request objects,
scope, PKCE, prompt; then sign-in, then consent, then the code.
"""

from __future__ import annotations

from datetime import timedelta

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oidc.core.errors import ConsentRequiredError
from authlib.oidc.core.errors import LoginRequiredError
from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import redirect
from flask import request
from flask import url_for

from idp import clock
from idp import runtime
from idp import web
from idp.extensions import csrf
from idp.extensions import db
from idp.oauth import claims
from idp.oauth import decision
from idp.oauth import discovery
from idp.oauth import grants
from idp.oauth import interaction
from idp.oauth import request_options
from idp.oauth import subjects
from idp.oauth.form_posts import check_form_post
from idp.oauth.server import authorization
from idp.oauth.server import query_client
from idp.oauth.verification import InvalidToken
from idp.oauth.verification import verify_access_token
from idp.services import consent
from idp.services import par

bp = Blueprint("oauth", __name__)
csrf.exempt(bp)  # client-authenticated or bearer endpoints; the consent form has its own token

DISCOVERY_MAX_AGE = 3600
JWKS_MAX_AGE = 300


# --- /authorize ------------------------------------------------------------------------------


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Response | tuple[str, int]:
    return _authorize(authorization.create_oauth2_request(None), None)


@bp.get("/authorize/resume/<interaction_id>")
def resume(interaction_id: str) -> Response | tuple[str, int]:
    pending = interaction.load(interaction_id)
    if pending is None:
        return web.error_page(
            "invalid_request",
            "This sign-in request has expired. Go back to the application and start again.",
        )
    return _authorize(_prepared_request(pending.params), pending)


def _authorize(
    oauth_request: OAuth2Request, pending: interaction.Interaction | None
) -> Response | tuple[str, int]:
    client = query_client(oauth_request.payload.client_id)
    pushed = False
    if pending is None and client is not None:
        request_uri = str(oauth_request.payload.data.get("request_uri") or "")
        if request_uri.startswith(par.REQUEST_URI_PREFIX):
            params = par.consume(request_uri, client)
            db.session.commit()
            if params is None:
                return web.error_page(
                    "invalid_request_uri", "The request_uri is invalid or expired"
                )
            oauth_request = _prepared_request(params)  # RFC 9126 §4: only pushed parameters
            pushed = True
    session = web.current_session()
    user = web.current_user()
    if user is not None and client is not None and user.tenant_id != client.tenant_id:
        session = user = None  # the client decides whose users may sign in (DESIGN §4)

    try:
        grant = authorization.get_consent_grant(request=oauth_request, end_user=user)
        options = request_options.parse(oauth_request.payload.data)
        if pending is None and not pushed and grant.client.require_pushed_authorization_requests:
            raise InvalidRequestError("This client must use pushed authorization requests")
    except OAuth2Error as error:
        return _authorization_error(oauth_request, error, grant_redirect_uri(oauth_request))

    decided = pending is not None and pending.decided_by(user.id if user is not None else None)
    scopes = scope_to_list(oauth_request.scope) or []
    step = decision.next_step(
        decision.Facts(
            signed_in=user is not None,
            seconds_since_auth=clock.epoch() - int(session.auth_time.timestamp())
            if session is not None
            else None,
            signed_in_subject=subjects.subject_for(user, grant.client) if user else None,
            prompts=options.prompts,
            max_age=options.max_age,
            hinted_subject=options.hinted_subject,
            login_done_here=decided and pending is not None and pending.login_at is not None,
            consent_decision=pending.consent if decided and pending is not None else None,
            consent_remembered=user is not None
            and not consent.is_needed(user, grant.client, scopes),
        )
    )
    silent = "none" in options.prompts  # prompt=none never shows a page
    if step is decision.Step.LOGIN:
        if silent:
            return _authorization_error(oauth_request, LoginRequiredError(), grant.redirect_uri)
        return _hand_off(oauth_request, pending, "auth.login")
    if step is decision.Step.DENIED:
        error = AccessDeniedError("The user denied the request")
        return _authorization_error(oauth_request, error, grant.redirect_uri)
    if step is decision.Step.CONSENT:
        if silent:
            return _authorization_error(oauth_request, ConsentRequiredError(), grant.redirect_uri)
        return _hand_off(oauth_request, pending, "auth.consent")

    oauth_request.browser_session = session
    response = authorization.create_authorization_response(
        request=oauth_request, grant=grant, grant_user=user
    )
    db.session.commit()
    interaction.finish(pending)
    return _with_issuer(response)


def _prepared_request(params: dict[str, str]) -> OAuth2Request:
    oauth_request = OAuth2Request("GET", request.url, headers=request.headers)
    oauth_request.payload = BasicOAuth2Payload(params)
    return oauth_request


def grant_redirect_uri(oauth_request: OAuth2Request) -> str | None:
    """The redirect_uri, if it was already matched to the client (authlib sets it on errors
    after that check; a later error of ours may use it too)."""
    client = query_client(oauth_request.payload.client_id)
    uri = oauth_request.payload.redirect_uri
    return uri if client is not None and uri and client.check_redirect_uri(uri) else None


def _hand_off(
    oauth_request: OAuth2Request, pending: interaction.Interaction | None, endpoint: str
) -> Response | tuple[str, int]:
    """Park the request and send the browser to a hosted page (STYLE rule 8)."""
    if pending is None:
        params = {k: str(v) for k, v in dict(oauth_request.payload.data).items()}
        if not interaction.params_fit(params):
            error = InvalidRequestError("Authorization request too large")
            return _authorization_error(oauth_request, error, oauth_request.payload.redirect_uri)
        pending = interaction.start(params)
    return redirect(url_for(endpoint, interaction_id=pending.id), code=303)


def _authorization_error(
    oauth_request: OAuth2Request, error: OAuth2Error, redirect_uri: str | None = None
) -> Response | tuple[str, int]:
    """RFC 6749 §4.1.2.1: redirect only to a redirect_uri already matched to the client;
    otherwise show the error to the user."""
    if redirect_uri is not None:
        error.redirect_uri = redirect_uri
    if not error.redirect_uri:
        return web.error_page(error.error, error.description)
    error.state = oauth_request.payload.state
    response = authorization.handle_error_response(oauth_request, error)
    return _with_issuer(response)


def _with_issuer(response: Response) -> Response:
    """RFC 9207 §2: every authorization response, error or not, names the issuer."""
    if response.location:
        response.location = add_params_to_uri(response.location, {"iss": runtime.settings().issuer})
    response.headers["Cache-Control"] = "no-store"
    return response


# --- /token ----------------------------------------------------------------------------------


TOKEN_PARAMETERS = (
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "resource",
)


@bp.post("/token")
def token() -> Response:
    try:
        check_form_post(body_only=TOKEN_PARAMETERS)
        if not request.form.get("grant_type"):
            raise InvalidRequestError("Missing grant_type")
    except InvalidRequestError as error:
        oauth_request = authorization.create_oauth2_request(None)
        return authorization.handle_error_response(oauth_request, error)
    response = authorization.create_token_response()
    db.session.commit()  # a redeemed or replayed code is recorded even when the answer is an error
    return response


# --- /par (RFC 9126) -------------------------------------------------------------------------

CLIENT_AUTH_PARAMETERS = ("client_secret", "client_assertion", "client_assertion_type")


@bp.post("/par")
def pushed_authorization_request() -> Response:
    oauth_request = authorization.create_oauth2_request(None)
    try:
        check_form_post(body_only=TOKEN_PARAMETERS)
        client = authorization.authenticate_client(
            oauth_request, grants.TOKEN_ENDPOINT_AUTH_METHODS, endpoint="par"
        )
        params = {k: v for k, v in request.form.items() if k not in CLIENT_AUTH_PARAMETERS}
        if "request_uri" in params:
            raise InvalidRequestError("request_uri is not allowed in a pushed request")
        if params.setdefault("client_id", client.client_id) != client.client_id:
            raise InvalidRequestError("client_id does not match the authenticated client")
        # RFC 9126 §2.1: validate as /authorize would, before anything is stored.
        authorization.get_consent_grant(
            request=_prepared_request({k: v for k, v in params.items() if k != "prompt"}),
            end_user=None,
        )
        request_options.parse(params)
    except OAuth2Error as error:
        error.redirect_uri = None  # the client is calling us directly: answer, never redirect
        return authorization.handle_error_response(oauth_request, error)
    lifetime = runtime.settings().par_lifetime
    request_uri = par.push(client, params, lifetime=timedelta(seconds=lifetime))
    db.session.commit()
    response = jsonify(request_uri=request_uri, expires_in=lifetime)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


# --- /userinfo -------------------------------------------------------------------------------


def _bearer_challenge(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = (
        f'Bearer realm="{runtime.settings().issuer}", error="{error}", '
        f'error_description="{description}"'
    )
    return response


def _bearer_token() -> str | None:
    """RFC 6750 §2.1 header or §2.2 form body; two at once is an error."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    from_header = value.strip() if scheme.lower() == "bearer" else None
    from_body = None
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        from_body = request.form.get("access_token")
    if from_header and from_body:
        raise ValueError("two bearer tokens")
    return from_header or from_body


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    try:
        token_value = _bearer_token()
    except ValueError:
        return _bearer_challenge(400, "invalid_request", "Send the token in one place only")
    if not token_value:
        return _bearer_challenge(401, "invalid_token", "Missing access token")
    try:
        verified = verify_access_token(token_value)
    except InvalidToken as exc:
        return _bearer_challenge(401, "invalid_token", f"The access token is {exc}")
    if verified.user is None or "openid" not in verified.scopes:
        return _bearer_challenge(403, "insufficient_scope", "The openid scope is required")
    info = claims.userinfo(
        verified.user,
        str(verified.claims.get("scope", "")),
        sub=str(verified.claims["sub"]),
    )
    response = jsonify(dict(info))
    response.headers["Cache-Control"] = "no-store"
    return response


# --- discovery and keys ----------------------------------------------------------------------


def _cacheable(payload: dict, max_age: int) -> Response:
    response = jsonify(payload)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/.well-known/openid-configuration")
@bp.get("/.well-known/oauth-authorization-server")
def openid_configuration() -> Response:
    return _cacheable(discovery.metadata(runtime.settings().issuer), DISCOVERY_MAX_AGE)


@bp.get("/jwks.json")
def jwks() -> Response:
    return _cacheable(runtime.keyring().snapshot().jwks, JWKS_MAX_AGE)
