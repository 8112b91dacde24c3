"""Refresh, rotation and reuse detection, revocation, introspection, client_credentials with
private_key_jwt, and pushed authorization requests, against a real `idp serve`.

The relying party and the resource server are Authlib's requests client; the browser is the
code-flow tests' `requests` one. Endpoints come only from discovery. A second server, started
with a one-second refresh-token reuse grace window, lets the reuse-detection test wait past it
without sleeping for the default five seconds.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.requests_client import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

from tests.e2e.test_code_flow import PASSWORD
from tests.e2e.test_code_flow import TIMEOUT
from tests.e2e.test_code_flow import Browser
from tests.e2e.test_code_flow import authorization_response
from tests.e2e.test_code_flow import check_authorization_response
from tests.e2e.test_code_flow import confidential_client
from tests.e2e.test_code_flow import oauth_session
from tests.e2e.test_code_flow import sign_in
from tests.e2e.test_code_flow import start_authorization
from tests.e2e.test_code_flow import userinfo
from tests.e2e.test_code_flow import verify_id_token
from tests.live_server import LiveIdP
from tests.live_server import free_port
from tests.live_server import live_idp_fixture  # noqa: F401 - the `live_idp` fixture

pytestmark = pytest.mark.e2e

REFRESH_SCOPE = "openid offline_access"
SHORT_GRACE = 1  # seconds, for the second server
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
RACE_ROUNDS = 5
STRICT_RACE_ROUNDS = 12  # a bug shows in most rounds; all 12 passing by luck is ~1e-9
CLOCK_SKEW = 120


# --- deployments ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """A running IdP, its discovered metadata, one user and one first-party confidential
    client allowed to refresh."""

    server: LiveIdP
    metadata: dict[str, Any]
    email: str
    user_id: str
    client: dict[str, Any]
    redirect_uri: str


def discover(server: LiveIdP) -> dict[str, Any]:
    response = requests.get(server.url("/.well-known/openid-configuration"), timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    metadata = response.json()
    assert metadata["issuer"] == server.issuer
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(
        metadata["grant_types_supported"]
    )
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    for endpoint in (
        "token_endpoint",
        "userinfo_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "pushed_authorization_request_endpoint",
    ):
        assert metadata[endpoint].startswith(server.issuer + "/"), endpoint
    jwks = requests.get(metadata["jwks_uri"], timeout=TIMEOUT)
    assert jwks.status_code == 200
    metadata["_jwks"] = jwks.json()
    return metadata


def deploy(server: LiveIdP) -> Deployment:
    metadata = discover(server)
    email = f"e2e-tokens-{secrets.token_hex(6)}@example.com"
    user = server.create_user(email, PASSWORD, "E2E Token User")
    redirect_uri = f"http://localhost:{free_port()}/callback"  # nothing listens there
    client = server.create_client(
        "E2E Refreshing App",
        redirect_uri,
        skip_consent=True,
        grant_types=("authorization_code", "refresh_token"),
    )
    assert client["token_endpoint_auth_method"] == "client_secret_basic"
    assert client["client_secret"] and client["skip_consent"] is True
    assert client["grant_types"] == ["authorization_code", "refresh_token"]
    assert "offline_access" in client["scopes"]
    return Deployment(server, metadata, email, user["id"], client, redirect_uri)


@pytest.fixture(scope="module")
def idp(live_idp: LiveIdP) -> Deployment:
    """The default server (reuse grace window of 5 s)."""
    return deploy(live_idp)


@pytest.fixture(scope="module")
def short_grace_idp() -> Iterator[Deployment]:
    """A second server whose rotated refresh tokens turn into theft signals after 1 s."""
    with LiveIdP(env={"IDP_REFRESH_TOKEN_REUSE_GRACE": str(SHORT_GRACE)}) as server:
        yield deploy(server)


# --- relying-party helpers -----------------------------------------------------------------


def refreshing_session(dep: Deployment) -> OAuth2Session:
    rp = oauth_session(dep.client, dep.redirect_uri)
    rp.scope = REFRESH_SCOPE  # asked for at /authorize and sent again with each refresh
    return rp


def sign_in_for_tokens(dep: Deployment) -> tuple[OAuth2Session, dict[str, Any]]:
    """A fresh browser signs in; the code (PKCE S256) is exchanged for a token response that
    must carry a refresh token."""
    rp = refreshing_session(dep)
    flow = start_authorization(rp, dep.metadata)
    with requests.Session() as session:
        final = sign_in(Browser(session, dep.redirect_uri), flow["url"], dep.email)
    params = authorization_response(final, dep.redirect_uri)  # no consent: first-party client
    check_authorization_response(params, flow["state"], dep.metadata["issuer"])
    token = rp.fetch_token(
        dep.metadata["token_endpoint"],
        code=params["code"],
        code_verifier=flow["verifier"],
        timeout=TIMEOUT,
    )
    assert token["access_token"] and token["id_token"]
    assert isinstance(token["refresh_token"], str) and token["refresh_token"]
    assert set(token["scope"].split()) == set(REFRESH_SCOPE.split())
    return rp, dict(token)


def refresh(rp: OAuth2Session, dep: Deployment, refresh_token: str) -> dict[str, Any]:
    token = rp.refresh_token(
        dep.metadata["token_endpoint"], refresh_token=refresh_token, timeout=TIMEOUT
    )
    assert token["token_type"].lower() == "bearer"
    assert token["access_token"] and isinstance(token["expires_in"], int)
    assert isinstance(token.get("refresh_token"), str) and token["refresh_token"]
    return dict(token)


def refresh_refused(rp: OAuth2Session, dep: Deployment, refresh_token: str) -> None:
    """The token endpoint answers 400 invalid_grant (RFC 6749 §5.2) and issues nothing."""
    answers: list[requests.Response] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        answers.append(response)

    rp.hooks["response"].append(record)
    try:
        with pytest.raises(OAuthError) as refused:
            rp.refresh_token(
                dep.metadata["token_endpoint"], refresh_token=refresh_token, timeout=TIMEOUT
            )
    finally:
        rp.hooks["response"].remove(record)
    assert refused.value.error == "invalid_grant"
    (answer,) = answers
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_grant"
    assert "access_token" not in answer.json() and "refresh_token" not in answer.json()


def introspect(
    resource_server: OAuth2Session, dep: Deployment, token: str, hint: str
) -> dict[str, Any]:
    answer = resource_server.introspect_token(
        dep.metadata["introspection_endpoint"], token=token, token_type_hint=hint, timeout=TIMEOUT
    )
    assert answer.status_code == 200, answer.text
    assert answer.request.headers["Authorization"].startswith("Basic ")
    assert answer.headers["Cache-Control"] == "no-store"
    result = answer.json()
    assert isinstance(result, dict)
    return result


def revoke(rp: OAuth2Session, dep: Deployment, token: str, hint: str) -> None:
    answer = rp.revoke_token(
        dep.metadata["revocation_endpoint"], token=token, token_type_hint=hint, timeout=TIMEOUT
    )
    assert answer.status_code == 200, answer.text
    assert answer.request.headers["Authorization"].startswith("Basic ")


def assert_dead_access_token(dep: Deployment, resource_server: OAuth2Session, token: str) -> None:
    answer = userinfo(dep.metadata, token)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_token"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
    assert introspect(resource_server, dep, token, "access_token") == {"active": False}


# --- refresh tokens ------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(idp: Deployment) -> None:
    rp, first = sign_in_for_tokens(idp)
    assert userinfo(idp.metadata, first["access_token"]).status_code == 200

    second = refresh(rp, idp, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]  # rotated (RFC 9700 §4.14.2)
    assert second["access_token"] != first["access_token"]
    assert set(second["scope"].split()) == set(REFRESH_SCOPE.split())
    answer = userinfo(idp.metadata, second["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["sub"] == idp.user_id

    # The rotated-out token is no longer a live token; its successor is.
    assert introspect(rp, idp, first["refresh_token"], "refresh_token") == {"active": False}
    live = introspect(rp, idp, second["refresh_token"], "refresh_token")
    assert live["active"] is True and live["sub"] == idp.user_id
    assert live["client_id"] == idp.client["client_id"]


def test_reused_refresh_token_revokes_the_family(short_grace_idp: Deployment) -> None:
    dep = short_grace_idp
    rp, first = sign_in_for_tokens(dep)
    second = refresh(rp, dep, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert introspect(rp, dep, second["access_token"], "access_token")["active"] is True
    assert userinfo(dep.metadata, second["access_token"]).status_code == 200

    time.sleep(SHORT_GRACE + 0.5)  # past the grace window: a reuse now means theft

    refresh_refused(rp, dep, first["refresh_token"])
    # The whole family is revoked: the legitimate successor and its access token die too.
    refresh_refused(rp, dep, second["refresh_token"])
    assert introspect(rp, dep, second["refresh_token"], "refresh_token") == {"active": False}
    assert_dead_access_token(dep, rp, second["access_token"])
    assert_dead_access_token(dep, rp, first["access_token"])


def test_reuse_within_the_grace_window_returns_the_same_successor(idp: Deployment) -> None:
    rp, first = sign_in_for_tokens(idp)
    second = refresh(rp, idp, first["refresh_token"])

    # A lost response or a second tab: the old token again, at once, gets the same successor.
    again = refresh(rp, idp, first["refresh_token"])
    assert again["refresh_token"] == second["refresh_token"]
    assert again["access_token"] != second["access_token"]
    assert userinfo(idp.metadata, again["access_token"]).status_code == 200

    # Not treated as theft: the family stands and the successor rotates normally.
    third = refresh(rp, idp, second["refresh_token"])
    assert third["refresh_token"] not in {first["refresh_token"], second["refresh_token"]}
    assert userinfo(idp.metadata, third["access_token"]).status_code == 200
    assert userinfo(idp.metadata, second["access_token"]).status_code == 200


def race_refresh(dep: Deployment, refresh_token: str, racers: int = 2) -> list[requests.Response]:
    """`racers` clients present the same refresh token at the same moment; their answers."""
    barrier = threading.Barrier(racers)

    def attempt(_: int) -> requests.Response:
        answers: list[requests.Response] = []
        with refreshing_session(dep) as rp:
            rp.hooks["response"].append(lambda r, *a, **k: answers.append(r))
            barrier.wait(timeout=TIMEOUT)
            try:
                rp.refresh_token(
                    dep.metadata["token_endpoint"], refresh_token=refresh_token, timeout=TIMEOUT
                )
            except (OAuthError, requests.HTTPError):
                pass  # judged from the response below
        (answer,) = answers
        return answer

    with ThreadPoolExecutor(max_workers=racers) as pool:
        return list(pool.map(attempt, range(racers)))


def test_concurrent_refreshes_yield_at_most_one_successor(idp: Deployment) -> None:
    assert idp.server.workers >= 2  # the two requests may land on different processes
    rp, token = sign_in_for_tokens(idp)
    current = token["refresh_token"]
    for _ in range(RACE_ROUNDS):
        answers = race_refresh(idp, current)
        assert all(a.status_code < 500 for a in answers), [(a.status_code, a.text) for a in answers]
        for answer in answers:
            assert answer.status_code in (200, 400), (answer.status_code, answer.text)
            if answer.status_code == 400:
                assert answer.json()["error"] == "invalid_grant"
        issued = {a.json()["refresh_token"] for a in answers if a.status_code == 200}
        assert len(issued) == 1, [(a.status_code, a.text) for a in answers]
        (successor,) = issued
        assert successor != current
        current = successor
    # The races were not taken for theft: the last successor still works.
    final = refresh(rp, idp, current)
    assert userinfo(idp.metadata, final["access_token"]).status_code == 200


def test_concurrent_refreshes_all_get_the_same_successor(idp: Deployment) -> None:
    """Two tabs refreshing at once is what the grace window is for: both should get 200 and
    the same successor, as when they come one after the other."""
    _, token = sign_in_for_tokens(idp)
    current = token["refresh_token"]
    for _ in range(STRICT_RACE_ROUNDS):
        answers = race_refresh(idp, current)
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        issued = {a.json()["refresh_token"] for a in answers}
        assert len(issued) == 1
        current = issued.pop()


# --- revocation and introspection ----------------------------------------------------------


def test_revocation_then_introspection(idp: Deployment) -> None:
    rs_client = confidential_client(idp.server, f"http://localhost:{free_port()}/rs")
    resource_server = OAuth2Session(rs_client["client_id"], rs_client["client_secret"])
    assert resource_server.token_endpoint_auth_method == "client_secret_basic"
    rp, token = sign_in_for_tokens(idp)
    access, refresh_token = token["access_token"], token["refresh_token"]

    active = introspect(resource_server, idp, access, "access_token")
    assert active["active"] is True
    assert active["sub"] == idp.user_id
    assert active["client_id"] == idp.client["client_id"]
    assert set(active["scope"].split()) == set(REFRESH_SCOPE.split())
    assert isinstance(active["exp"], int) and active["exp"] > time.time()
    assert active["iss"] == idp.metadata["issuer"]

    revoke(rp, idp, access, "access_token")
    assert_dead_access_token(idp, resource_server, access)

    # Revoking the access token leaves the refresh token alone (RFC 7009 §2.1 only asks the
    # reverse); revoking the refresh token then ends it.
    live = introspect(resource_server, idp, refresh_token, "refresh_token")
    assert live["active"] is True and live["client_id"] == idp.client["client_id"]
    revoke(rp, idp, refresh_token, "refresh_token")
    assert introspect(resource_server, idp, refresh_token, "refresh_token") == {"active": False}
    refresh_refused(rp, idp, refresh_token)


# --- client_credentials with private_key_jwt ---------------------------------------------


def assertion_signer(token_endpoint: str, kid: str) -> PrivateKeyJWT:
    """Authlib's private_key_jwt signer. Its default assertion lives an hour, longer than this
    IdP accepts (RFC 7523 §3 lets it refuse a far `exp`), so ask for five minutes. Authlib
    keeps the claims dict (and the jti it adds to it), so build one signer per request."""
    return PrivateKeyJWT(
        token_endpoint, claims={"exp": int(time.time()) + 300}, headers={"kid": kid}
    )


def test_client_credentials_with_private_key_jwt(idp: Deployment) -> None:
    metadata = idp.metadata
    token_endpoint = metadata["token_endpoint"]
    kid = f"e2e-{secrets.token_hex(4)}"
    private_key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    public_jwks = {"keys": [private_key.as_dict(private=False)]}
    assert "d" not in public_jwks["keys"][0]
    service = idp.server.cli(
        "clients",
        "create",
        "--name",
        "E2E Service",
        "--auth-method",
        "private_key_jwt",
        "--grant-type",
        "client_credentials",
        "--jwks",
        json.dumps(public_jwks),
    )
    assert service["token_endpoint_auth_method"] == "private_key_jwt"
    assert service["grant_types"] == ["client_credentials"] and "client_secret" not in service
    client_id = service["client_id"]

    sent: list[requests.PreparedRequest] = []
    with OAuth2Session(client_id, private_key, token_endpoint_auth_method="private_key_jwt") as rp:
        rp.register_client_auth_method(assertion_signer(token_endpoint, kid))
        rp.hooks["response"].append(lambda r, *a, **k: sent.append(r.request))
        token = rp.fetch_token(token_endpoint, grant_type="client_credentials", timeout=TIMEOUT)
    (request,) = sent
    assert "Authorization" not in request.headers
    body = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
    assert body["client_assertion_type"] == [ASSERTION_TYPE] and "client_secret" not in body
    assert token["token_type"].lower() == "bearer" and "refresh_token" not in token

    # RFC 9068: a JWT signed with a published key, typed at+jwt, about the client itself.
    decoded = jwt.decode(
        token["access_token"], KeySet.import_key_set(metadata["_jwks"]), algorithms=["RS256"]
    )
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.header["kid"] in {k["kid"] for k in metadata["_jwks"]["keys"]}
    jwt.JWTClaimsRegistry(
        leeway=CLOCK_SKEW,
        iss={"essential": True, "value": metadata["issuer"]},
        sub={"essential": True, "value": client_id},
        client_id={"essential": True, "value": client_id},
        aud={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    ).validate(decoded.claims)

    # The same assertion twice: the second is a replay (RFC 7523 §3 item 7).
    now = int(time.time())
    assertion = jwt.encode(
        {"alg": "RS256", "kid": kid},
        {
            "iss": client_id,
            "sub": client_id,
            "aud": token_endpoint,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        },
        private_key,
        algorithms=["RS256"],
    )
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    first = requests.post(token_endpoint, data=form, timeout=TIMEOUT)
    assert first.status_code == 200, first.text
    assert first.json()["access_token"]
    replay = requests.post(token_endpoint, data=form, timeout=TIMEOUT)
    assert replay.status_code == 401, replay.text
    assert replay.json()["error"] == "invalid_client"
    assert "access_token" not in replay.json()
    assert "WWW-Authenticate" in replay.headers


# --- pushed authorization requests -------------------------------------------------------


def test_pushed_authorization_request(idp: Deployment) -> None:
    metadata = idp.metadata
    rp = oauth_session(idp.client, idp.redirect_uri)
    flow = start_authorization(rp, metadata)
    params = {k: v[0] for k, v in parse_qs(urlsplit(flow["url"]).query).items()}
    assert {"response_type", "client_id", "redirect_uri", "state", "code_challenge"} <= set(params)

    pushed = rp.post(
        metadata["pushed_authorization_request_endpoint"],
        data=params,
        auth=rp.client_auth("client_secret_basic"),
        timeout=TIMEOUT,
    )
    assert pushed.status_code == 201, pushed.text
    assert pushed.request.headers["Authorization"].startswith("Basic ")
    assert pushed.headers["Cache-Control"] == "no-store"
    answer = pushed.json()
    assert answer["request_uri"].startswith(REQUEST_URI_PREFIX)
    assert isinstance(answer["expires_in"], int) and answer["expires_in"] > 0

    # RFC 9126 §4: the authorization request carries only client_id and request_uri.
    url = (
        metadata["authorization_endpoint"]
        + "?"
        + urlencode({"client_id": idp.client["client_id"], "request_uri": answer["request_uri"]})
    )
    with requests.Session() as session:
        browser = Browser(session, idp.redirect_uri)
        result = authorization_response(sign_in(browser, url, idp.email), idp.redirect_uri)
        check_authorization_response(result, flow["state"], metadata["issuer"])

        # Used once: the same request_uri, even with a signed-in browser, is refused.
        again = browser.open(url)
        assert again.status_code == 400, (again.status_code, again.headers.get("Location"))

    token = rp.fetch_token(
        metadata["token_endpoint"],
        code=result["code"],
        code_verifier=flow["verifier"],
        timeout=TIMEOUT,
    )
    claims = verify_id_token(
        token["id_token"],
        metadata,
        client_id=idp.client["client_id"],
        nonce=flow["nonce"],
        access_token=token["access_token"],
    )
    assert claims["sub"] == idp.user_id
    assert userinfo(metadata, token["access_token"]).status_code == 200
