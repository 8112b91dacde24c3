"""The authorization code flow against a real `idp serve`, driven by Authlib's OAuth2 client.

The relying party side is an independent library (Authlib's requests client, joserfc for the
ID token); the browser is a `requests.Session` that submits the hosted HTML forms like a user
would. Endpoints are found only through discovery.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.requests_client import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.live_server import LiveIdP
from tests.live_server import free_port
from tests.live_server import live_idp_fixture  # noqa: F401 - the `live_idp` fixture

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-correct-horse-battery"
SCOPE = "openid profile email"
TIMEOUT = 10
MAX_HOPS = 10
CLOCK_SKEW = 120


# --- a tiny "browser" ----------------------------------------------------------------------


class _FormParser(HTMLParser):
    """Collects each <form>'s method, action and named inputs/buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "method": a.get("method", "get").lower(),
                    "action": a.get("action", ""),
                    "fields": {},
                    "buttons": [],
                    "hidden": "hidden" in a,  # shown only by script (the passkey form)
                }
            )
        elif self.forms and tag == "input" and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif self.forms and tag == "button" and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))


def only_form(html: str) -> dict[str, Any]:
    """The one form a browser without JavaScript shows."""
    parser = _FormParser()
    parser.feed(html)
    visible = [form for form in parser.forms if not form["hidden"]]
    assert len(visible) == 1, f"expected one visible form, found {len(visible)}:\n{html}"
    return visible[0]


@dataclass
class Browser:
    """Follows redirects one hop at a time and stops before leaving for the client."""

    session: requests.Session
    redirect_uri: str

    def go(self, response: requests.Response) -> requests.Response:
        """Follow redirects from `response` until a page is shown or the IdP sends the
        browser to the redirect_uri; that last response is returned unfollowed."""
        for _ in range(MAX_HOPS):
            if not response.is_redirect:
                return response
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(self.redirect_uri):
                return response
            assert response.status_code in (302, 303), response.status_code
            response = self.session.get(location, allow_redirects=False, timeout=TIMEOUT)
        raise AssertionError(f"more than {MAX_HOPS} redirects; last at {response.url}")

    def open(self, url: str) -> requests.Response:
        return self.go(self.session.get(url, allow_redirects=False, timeout=TIMEOUT))

    def submit(self, page: requests.Response, **values: str) -> requests.Response:
        form = only_form(page.text)
        assert form["method"] == "post"
        assert "csrf_token" in form["fields"] and form["fields"]["csrf_token"]
        data = {"csrf_token": form["fields"]["csrf_token"], **values}
        target = urljoin(page.url, form["action"])
        return self.go(self.session.post(target, data=data, allow_redirects=False, timeout=TIMEOUT))


def sign_in(browser: Browser, authorization_url: str, email: str) -> requests.Response:
    """Open the authorization URL, land on the login page and submit it."""
    page = browser.open(authorization_url)
    assert page.status_code == 200, page.text
    assert urlsplit(page.url).path == "/login", page.url
    form = only_form(page.text)
    assert {"email", "password"} <= form["fields"].keys()
    return browser.submit(page, email=email, password=PASSWORD)


def authorization_response(response: requests.Response, redirect_uri: str) -> dict[str, str]:
    """The query of the final redirect to the client, which must not have been followed."""
    assert response.status_code in (302, 303), (response.status_code, response.text)
    location = response.headers["Location"]
    assert location.startswith(redirect_uri + "?"), location
    assert response.headers.get("Cache-Control") == "no-store"
    query = parse_qs(urlsplit(location).query, strict_parsing=True)
    assert all(len(v) == 1 for v in query.values()), query
    return {k: v[0] for k, v in query.items()} | {"_location": location}


# --- relying-party helpers -----------------------------------------------------------------


@pytest.fixture(scope="module")
def provider(live_idp: LiveIdP) -> dict[str, Any]:
    response = requests.get(live_idp.url("/.well-known/openid-configuration"), timeout=TIMEOUT)
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == live_idp.issuer  # OIDC Discovery §4.3
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    jwks = requests.get(metadata["jwks_uri"], timeout=TIMEOUT)
    assert jwks.status_code == 200
    metadata["_jwks"] = jwks.json()
    return metadata


@pytest.fixture
def redirect_uri() -> str:
    return f"http://localhost:{free_port()}/callback"  # nothing listens there


@pytest.fixture
def user(live_idp: LiveIdP) -> dict[str, Any]:
    email = f"e2e-{secrets.token_hex(6)}@example.com"
    created = live_idp.create_user(email, PASSWORD, "E2E User")
    assert created["email"] == email and created["email_verified"] is True
    return created


@pytest.fixture
def browser(redirect_uri: str) -> Iterator[Browser]:
    with requests.Session() as session:
        yield Browser(session, redirect_uri)


def b64url_sha256_left_half(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def verify_id_token(
    id_token: str, provider: dict[str, Any], *, client_id: str, nonce: str, access_token: str
) -> dict[str, Any]:
    """Signature against the published JWKS, then the OIDC Core §3.1.3.7 checks."""
    keys = KeySet.import_key_set(provider["_jwks"])
    algs = provider["id_token_signing_alg_values_supported"]
    token = jwt.decode(id_token, keys, algorithms=algs)
    header, claims = token.header, token.claims
    assert header["alg"] == "RS256"  # the default for a client that did not ask otherwise
    assert header.get("kid") in {k["kid"] for k in provider["_jwks"]["keys"]}

    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_SKEW,
        iss={"essential": True, "value": provider["issuer"]},
        sub={"essential": True},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
        auth_time={"essential": True},
        at_hash={"essential": True},
        sid={"essential": True},
        amr={"essential": True},
    )
    registry.validate(claims)  # also checks exp/iat/nbf against the clock

    aud = claims["aud"]
    assert aud == client_id or aud == [client_id], aud
    if isinstance(aud, list) and len(aud) > 1:
        assert claims.get("azp") == client_id
    now = int(time.time())
    assert isinstance(claims["iat"], int) and abs(claims["iat"] - now) <= CLOCK_SKEW
    assert isinstance(claims["exp"], int) and claims["exp"] > now
    assert claims["exp"] - claims["iat"] <= 24 * 3600
    assert isinstance(claims["auth_time"], int)
    assert now - CLOCK_SKEW <= claims["auth_time"] <= claims["iat"] + 1
    assert claims["at_hash"] == b64url_sha256_left_half(access_token)
    assert isinstance(claims["sid"], str) and claims["sid"]
    assert claims["amr"] == ["pwd"]
    assert isinstance(claims["sub"], str) and claims["sub"]
    return claims


def oauth_session(client: dict[str, Any], redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        client_id=client["client_id"],
        client_secret=client.get("client_secret"),
        token_endpoint_auth_method=client["token_endpoint_auth_method"],
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )


def start_authorization(rp: OAuth2Session, provider: dict[str, Any]) -> dict[str, str]:
    nonce = secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)
    url, state = rp.create_authorization_url(
        provider["authorization_endpoint"], nonce=nonce, code_verifier=verifier
    )
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] == [nonce]
    return {"url": url, "state": state, "nonce": nonce, "verifier": verifier}


def check_authorization_response(params: dict[str, str], state: str, issuer: str) -> None:
    assert "error" not in params, params
    assert params["state"] == state
    assert params["iss"] == issuer  # RFC 9207
    assert params["code"]


def userinfo(provider: dict[str, Any], access_token: str) -> requests.Response:
    return requests.get(
        provider["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=TIMEOUT,
    )


def confidential_client(live_idp: LiveIdP, redirect_uri: str) -> dict[str, Any]:
    client = live_idp.create_client("E2E Web App", redirect_uri)
    assert client["public"] is False and client["client_secret"]
    assert client["token_endpoint_auth_method"] == "client_secret_basic"
    return client


def code_through_consent(
    browser: Browser, flow: dict[str, str], email: str, redirect_uri: str
) -> dict[str, str]:
    consent = sign_in(browser, flow["url"], email)
    assert consent.status_code == 200, consent.text
    assert urlsplit(consent.url).path == "/consent", consent.url
    assert ("decision", "allow") in only_form(consent.text)["buttons"]
    final = browser.submit(consent, decision="allow")
    return authorization_response(final, redirect_uri)


# --- tests ---------------------------------------------------------------------------------


def test_confidential_client_code_flow(
    live_idp: LiveIdP,
    provider: dict[str, Any],
    user: dict[str, Any],
    browser: Browser,
    redirect_uri: str,
) -> None:
    client = confidential_client(live_idp, redirect_uri)
    rp = oauth_session(client, redirect_uri)
    flow = start_authorization(rp, provider)

    params = code_through_consent(browser, flow, user["email"], redirect_uri)
    check_authorization_response(params, flow["state"], provider["issuer"])

    token = rp.fetch_token(
        provider["token_endpoint"],
        authorization_response=params["_location"],  # Authlib re-checks state too
        code_verifier=flow["verifier"],
    )
    assert token["token_type"].lower() == "bearer"
    assert token["access_token"] and token["id_token"]
    assert isinstance(token["expires_in"], int) and token["expires_in"] > 0
    assert set(token["scope"].split()) == set(SCOPE.split())

    claims = verify_id_token(
        token["id_token"],
        provider,
        client_id=client["client_id"],
        nonce=flow["nonce"],
        access_token=token["access_token"],
    )
    assert claims["sub"] == user["id"]

    answer = userinfo(provider, token["access_token"])
    assert answer.status_code == 200, answer.text
    info = answer.json()
    assert info["sub"] == claims["sub"]
    assert info["email"] == user["email"]
    assert info["email_verified"] is True
    assert info["name"] == "E2E User"


def test_public_client_without_consent(
    live_idp: LiveIdP,
    provider: dict[str, Any],
    user: dict[str, Any],
    browser: Browser,
    redirect_uri: str,
) -> None:
    client = live_idp.create_client("E2E SPA", redirect_uri, public=True, skip_consent=True)
    assert client["public"] is True and client["skip_consent"] is True
    assert client["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in client
    rp = oauth_session(client, redirect_uri)
    flow = start_authorization(rp, provider)

    final = sign_in(browser, flow["url"], user["email"])  # no consent page in between
    params = authorization_response(final, redirect_uri)
    check_authorization_response(params, flow["state"], provider["issuer"])

    sent: list[requests.PreparedRequest] = []
    rp.hooks["response"].append(lambda r, *a, **k: sent.append(r.request))
    token = rp.fetch_token(
        provider["token_endpoint"], code=params["code"], code_verifier=flow["verifier"]
    )
    (request,) = sent
    assert "Authorization" not in request.headers
    body = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
    assert body["client_id"] == [client["client_id"]] and "client_secret" not in body
    assert body["code_verifier"] == [flow["verifier"]]

    claims = verify_id_token(
        token["id_token"],
        provider,
        client_id=client["client_id"],
        nonce=flow["nonce"],
        access_token=token["access_token"],
    )
    assert claims["sub"] == user["id"]
    info = userinfo(provider, token["access_token"])
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == user["id"] and info.json()["email"] == user["email"]


def test_code_replay_is_refused_and_revokes_the_grant(
    live_idp: LiveIdP,
    provider: dict[str, Any],
    user: dict[str, Any],
    browser: Browser,
    redirect_uri: str,
) -> None:
    client = confidential_client(live_idp, redirect_uri)
    rp = oauth_session(client, redirect_uri)
    flow = start_authorization(rp, provider)
    params = code_through_consent(browser, flow, user["email"], redirect_uri)
    check_authorization_response(params, flow["state"], provider["issuer"])

    first = rp.fetch_token(
        provider["token_endpoint"], code=params["code"], code_verifier=flow["verifier"]
    )
    assert userinfo(provider, first["access_token"]).status_code == 200

    answers: list[requests.Response] = []
    rp.hooks["response"].append(lambda r, *a, **k: answers.append(r))
    with pytest.raises(OAuthError) as refused:
        rp.fetch_token(
            provider["token_endpoint"], code=params["code"], code_verifier=flow["verifier"]
        )
    assert refused.value.error == "invalid_grant"
    (second,) = answers
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert "access_token" not in second.json()

    # RFC 6749 §4.1.2 / RFC 9700 §4.5: the replay revokes what the code already produced.
    after = userinfo(provider, first["access_token"])
    assert after.status_code == 401, after.text
    assert after.json()["error"] == "invalid_token"
    assert after.headers["WWW-Authenticate"].startswith("Bearer ")
