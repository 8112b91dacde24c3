"""RP-Initiated Logout and Back-Channel Logout against a real `idp serve`.

A tiny relying party (http.server on 127.0.0.1) receives the back-channel logout tokens; the
browser is the code-flow tests' `requests` one, and endpoints come only from discovery.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.test_code_flow import PASSWORD
from tests.e2e.test_code_flow import TIMEOUT
from tests.e2e.test_code_flow import Browser
from tests.e2e.test_code_flow import authorization_response
from tests.e2e.test_code_flow import check_authorization_response
from tests.e2e.test_code_flow import oauth_session
from tests.e2e.test_code_flow import sign_in
from tests.e2e.test_code_flow import start_authorization
from tests.e2e.test_code_flow import verify_id_token
from tests.live_server import LiveIdP
from tests.live_server import free_port
from tests.live_server import live_idp_fixture  # noqa: F401 - the `live_idp` fixture

pytestmark = pytest.mark.e2e

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
DELIVERY_WAIT = 10.0


class RelyingParty:
    """Records the logout tokens POSTed to /bc and answers 200, as §2.8 asks."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.content_types: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if self.path == "/bc":
                    received.content_types.append(self.headers.get("Content-Type", ""))
                    received.tokens.extend(parse_qs(body).get("logout_token", []))
                self.send_response(200 if self.path == "/bc" else 404)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for_token(self, timeout: float = DELIVERY_WAIT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.tokens:
                return self.tokens[0]
            time.sleep(0.05)
        raise AssertionError(f"no logout token reached the RP within {timeout:.0f} s")


@pytest.fixture
def relying_party() -> Iterator[RelyingParty]:
    rp = RelyingParty()
    thread = threading.Thread(target=rp.server.serve_forever, daemon=True)
    thread.start()
    yield rp
    rp.server.shutdown()
    rp.server.server_close()


@pytest.fixture(scope="module")
def metadata(live_idp: LiveIdP) -> dict[str, Any]:
    meta = requests.get(live_idp.url("/.well-known/openid-configuration"), timeout=TIMEOUT).json()
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    meta["_jwks"] = requests.get(meta["jwks_uri"], timeout=TIMEOUT).json()
    return meta


def test_rp_initiated_logout_redirects_notifies_the_rp_and_ends_sso(
    live_idp: LiveIdP, metadata: dict[str, Any], relying_party: RelyingParty
) -> None:
    redirect_uri = f"http://localhost:{free_port()}/callback"  # nothing listens there
    after_logout = relying_party.base_url + "/signed-out"
    client = live_idp.cli(
        "clients",
        "create",
        "--name",
        "E2E Logout RP",
        "--redirect-uri",
        redirect_uri,
        "--post-logout-redirect-uri",
        after_logout,
        "--backchannel-logout-uri",
        relying_party.base_url + "/bc",
        "--skip-consent",
    )
    email = f"e2e-logout-{secrets.token_hex(6)}@example.com"
    user = live_idp.create_user(email, PASSWORD, "E2E User")

    with requests.Session() as session:
        browser = Browser(session, redirect_uri)
        rp = oauth_session(client, redirect_uri)
        flow = start_authorization(rp, metadata)
        params = authorization_response(sign_in(browser, flow["url"], email), redirect_uri)
        check_authorization_response(params, flow["state"], metadata["issuer"])
        token = rp.fetch_token(
            metadata["token_endpoint"], code=params["code"], code_verifier=flow["verifier"]
        )
        id_claims = verify_id_token(
            token["id_token"],
            metadata,
            client_id=client["client_id"],
            nonce=flow["nonce"],
            access_token=token["access_token"],
        )

        # RP-Initiated Logout §2, as a top-level GET with the hint, the URI and state.
        state = secrets.token_urlsafe(8)
        logout = session.get(
            metadata["end_session_endpoint"]
            + "?"
            + urlencode(
                {
                    "id_token_hint": token["id_token"],
                    "post_logout_redirect_uri": after_logout,
                    "state": state,
                }
            ),
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert logout.status_code == 303, logout.text
        assert logout.headers["Location"] == f"{after_logout}?state={state}"

        # Back-Channel Logout §2.4-2.6: a signed logout token for this session.
        logout_token = relying_party.wait_for_token()
        assert relying_party.content_types[0] == "application/x-www-form-urlencoded"
        decoded = jwt.decode(
            logout_token,
            KeySet.import_key_set(metadata["_jwks"]),
            algorithms=metadata["id_token_signing_alg_values_supported"],
        )
        assert decoded.header["typ"] == "logout+jwt"
        claims = decoded.claims
        jwt.JWTClaimsRegistry(
            leeway=120,
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": client["client_id"]},
            iat={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(claims)
        assert claims["sid"] == id_claims["sid"]
        assert claims["sub"] == id_claims["sub"] == user["id"]
        assert claims["events"] == {BACKCHANNEL_EVENT: {}}
        assert "nonce" not in claims

        # The SSO session is gone: a silent authorization needs a login now.
        again = start_authorization(rp, metadata)
        silent = session.get(again["url"] + "&prompt=none", allow_redirects=False, timeout=TIMEOUT)
        assert silent.status_code in (302, 303), silent.text
        location = silent.headers["Location"]
        assert location.startswith(redirect_uri + "?"), location
        answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert answer["error"] == "login_required"
        assert answer["state"] == again["state"]

    assert len(relying_party.tokens) == 1  # delivered once, not retried
