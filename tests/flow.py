"""Drive the authorization-code flow through the HTTP surface with Flask's test client."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.factories import MadeClient
from tests.factories import MadeUser

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Authorization:
    params: dict[str, str]
    verifier: str
    response: TestResponse | None = None
    redirect: dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.redirect["code"]


def authorization_params(client: MadeClient, **overrides: str | None) -> tuple[dict, str]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": "openid profile email",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}, verifier


def sign_in(http: FlaskClient, login_url: str, email: str, password: str) -> TestResponse:
    page = http.get(login_url)
    assert page.status_code == 200, page.text
    return http.post(
        login_url,
        data={"email": email, "password": password, "csrf_token": csrf_token(page.text)},
    )


def decide_consent(http: FlaskClient, consent_url: str, decision: str = "allow") -> TestResponse:
    page = http.get(consent_url)
    assert page.status_code == 200, page.text
    return http.post(consent_url, data={"decision": decision, "csrf_token": csrf_token(page.text)})


def authorize(
    http: FlaskClient,
    client: MadeClient,
    user: MadeUser | None,
    *,
    consent: str = "allow",
    **overrides: str | None,
) -> Authorization:
    """Follow /authorize through sign-in and consent to the client's redirect."""
    params, verifier = authorization_params(client, **overrides)
    response = http.get("/authorize?" + urlencode(params))
    for _ in range(6):
        location = response.headers.get("Location", "")
        if response.status_code not in (302, 303) or location.startswith(client.redirect_uri):
            break
        path = urlsplit(location)
        local = path.path + ("?" + path.query if path.query else "")
        if path.path == "/login":
            assert user is not None, "sign-in needed but no user given"
            response = sign_in(http, local, user.email, user.password)
        elif path.path == "/consent":
            response = decide_consent(http, local, consent)
        else:
            response = http.get(local)
    result = Authorization(params, verifier, response)
    location = response.headers.get("Location", "")
    if location.startswith(client.redirect_uri):
        result.redirect = query(location)
    return result


def exchange(
    http: FlaskClient,
    client: MadeClient,
    code: str,
    verifier: str | None,
    *,
    redirect_uri: str | None = None,
    basic: bool = True,
) -> TestResponse:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri or client.redirect_uri,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    headers = {}
    if client.client_secret and basic:
        raw = f"{client.client_id}:{client.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    elif client.client_secret:
        data.update(client_id=client.client_id, client_secret=client.client_secret)
    else:
        data["client_id"] = client.client_id
    return http.post("/token", data=data, headers=headers)


def client_auth(client: MadeClient) -> dict[str, str]:
    """HTTP Basic for a confidential client; nothing for a public one."""
    if not client.client_secret:
        return {}
    raw = f"{client.client_id}:{client.client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def refresh(
    http: FlaskClient, client: MadeClient, refresh_token: str, **extra: str
) -> TestResponse:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    if not client.client_secret:
        data["client_id"] = client.client_id
    return http.post("/token", data=data, headers=client_auth(client))
