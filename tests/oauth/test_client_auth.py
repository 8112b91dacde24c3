"""Client authentication with JWT assertions (RFC 7523 §2.2 and §3, OIDC Core §9) and the one
method per request rule (RFC 6749 §2.3), at /token."""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import OctKey
from joserfc.jwk import RSAKey
from werkzeug.test import TestResponse

from idp import clock
from idp.oauth import client_auth
from tests.factories import MadeClient
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorize

ISSUER = "http://localhost"
TOKEN_ENDPOINT = f"{ISSUER}/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

RSA_KEY = RSAKey.generate_key(2048, private=True, parameters={"kid": "rsa-1"})
OTHER_RSA_KEY = RSAKey.generate_key(2048, private=True, parameters={"kid": "rsa-1"})
EC_KEY = ECKey.generate_key("P-256", private=True, parameters={"kid": "ec-1"})


def public_jwks(*keys: RSAKey | ECKey) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def sign_assertion(
    client_id: str,
    key: RSAKey | ECKey | OctKey,
    *,
    alg: str = "RS256",
    kid: str | None = "auto",
    **overrides: Any,
) -> str:
    """A client assertion; an override of None leaves the claim out."""
    now = clock.epoch()
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_ENDPOINT,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    header = {"alg": alg}
    kid = key.kid if kid == "auto" else kid
    if kid:
        header["kid"] = kid
    return jwt.encode(header, claims, key, algorithms=[alg])


def assertion_form(assertion: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}


def machine(app: Flask, auth_method: str, **options: Any) -> MadeClient:
    return make_client(
        app,
        name="Backend",
        grant_types=["client_credentials"],
        redirect_uri=None,
        service_type="machine",
        scopes=["read"],
        auth_method=auth_method,
        **options,
    )


def pkjwt_client(app: Flask, *keys: RSAKey | ECKey) -> MadeClient:
    return machine(app, "private_key_jwt", jwks=public_jwks(*(keys or (RSA_KEY,))))


def secret_jwt_client(app: Flask) -> MadeClient:
    return machine(app, "client_secret_jwt")


def token_request(
    http: FlaskClient, assertion: str | None = None, headers: dict | None = None, **form: str
) -> TestResponse:
    data = {"grant_type": "client_credentials", **form}
    if assertion is not None:
        data.update(assertion_form(assertion))
    return http.post("/token", data=data, headers=headers or {})


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def assert_invalid_client(response: TestResponse) -> None:
    assert response.status_code == 401, response.text
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers.get("WWW-Authenticate")
    assert "access_token" not in response.get_json()
    assert "no-store" in response.headers.get("Cache-Control", "")


def assert_issued(response: TestResponse, rp: MadeClient) -> dict:
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["access_token"]
    return body


# --- success ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, alg",
    [(RSA_KEY, "RS256"), (RSA_KEY, "PS256"), (EC_KEY, "ES256")],
    ids=["RS256", "PS256", "ES256"],
)
def test_private_key_jwt_authenticates_the_client(app, client, key, alg):
    rp = pkjwt_client(app, RSA_KEY, EC_KEY)
    response = token_request(client, sign_assertion(rp.client_id, key, alg=alg))
    assert_issued(response, rp)


@pytest.mark.parametrize(
    "aud",
    [TOKEN_ENDPOINT, ISSUER, [ISSUER], ["https://elsewhere.example", TOKEN_ENDPOINT]],
    ids=["token-endpoint", "issuer", "issuer-in-a-list", "token-endpoint-among-others"],
)
def test_assertion_audience_may_be_the_token_endpoint_or_the_issuer(app, client, aud):
    rp = pkjwt_client(app)
    assert_issued(token_request(client, sign_assertion(rp.client_id, RSA_KEY, aud=aud)), rp)


def test_private_key_jwt_without_kid_uses_the_matching_key_type(app, client):
    rp = pkjwt_client(app, RSA_KEY, EC_KEY)
    assertion = sign_assertion(rp.client_id, EC_KEY, alg="ES256", kid=None)
    assert_issued(token_request(client, assertion), rp)


def test_client_secret_jwt_authenticates_the_client(app, client):
    rp = secret_jwt_client(app)
    assert rp.client_secret
    key = OctKey.import_key(rp.client_secret)
    response = token_request(client, sign_assertion(rp.client_id, key, alg="HS256", kid=None))
    assert_issued(response, rp)


def test_assertion_may_name_the_client_id_in_the_body_too(app, client):
    rp = pkjwt_client(app)
    response = token_request(client, sign_assertion(rp.client_id, RSA_KEY), client_id=rp.client_id)
    assert_issued(response, rp)


def test_private_key_jwt_client_completes_the_code_flow(app, client):
    user = make_user(app)
    rp = make_client(app, auth_method="private_key_jwt", jwks=public_jwks(RSA_KEY))
    auth = authorize(client, rp, user)
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": auth.code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": auth.verifier,
            **assertion_form(sign_assertion(rp.client_id, RSA_KEY)),
        },
    )
    body = assert_issued(response, rp)
    assert body["id_token"]
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200


# --- failures: 401 invalid_client -------------------------------------------------------------


def _now() -> int:
    return clock.epoch()


PRIVATE_KEY_JWT_FAILURES = {
    "wrong-key": lambda rp: sign_assertion(rp.client_id, OTHER_RSA_KEY),
    "expired": lambda rp: sign_assertion(rp.client_id, RSA_KEY, iat=_now() - 300, exp=_now() - 120),
    "future-iat": lambda rp: sign_assertion(rp.client_id, RSA_KEY, iat=_now() + 300),
    "future-nbf": lambda rp: sign_assertion(rp.client_id, RSA_KEY, nbf=_now() + 300),
    "wrong-aud": lambda rp: sign_assertion(
        rp.client_id, RSA_KEY, aud="https://other.example/token"
    ),
    "aud-with-path-trick": lambda rp: sign_assertion(
        rp.client_id, RSA_KEY, aud=TOKEN_ENDPOINT + "x"
    ),
    "missing-aud": lambda rp: sign_assertion(rp.client_id, RSA_KEY, aud=None),
    "wrong-iss": lambda rp: sign_assertion(rp.client_id, RSA_KEY, iss="someone-else"),
    "wrong-sub": lambda rp: sign_assertion(rp.client_id, RSA_KEY, sub="someone-else"),
    "missing-sub": lambda rp: sign_assertion(rp.client_id, RSA_KEY, sub=None),
    "missing-jti": lambda rp: sign_assertion(rp.client_id, RSA_KEY, jti=None),
    "empty-jti": lambda rp: sign_assertion(rp.client_id, RSA_KEY, jti=""),
    "missing-exp": lambda rp: sign_assertion(rp.client_id, RSA_KEY, exp=None),
    "lives-too-long": lambda rp: sign_assertion(rp.client_id, RSA_KEY, exp=_now() + 3600),
    "hs256-with-public-key": lambda rp: sign_assertion(
        rp.client_id,
        OctKey.import_key(json.dumps(RSA_KEY.as_dict(private=False))),
        alg="HS256",
        kid="rsa-1",
    ),
    "unknown-kid": lambda rp: sign_assertion(rp.client_id, RSA_KEY, kid="nope"),
    "unknown-client": lambda rp: sign_assertion("no-such-client", RSA_KEY),
    "garbage": lambda rp: "not.a.jwt",
    "unsigned": lambda rp: (
        ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
            for part in ({"alg": "none"}, {"iss": rp.client_id, "sub": rp.client_id})
        )
        + "."
    ),
}


@pytest.mark.parametrize(
    "make_assertion", PRIVATE_KEY_JWT_FAILURES.values(), ids=PRIVATE_KEY_JWT_FAILURES.keys()
)
def test_private_key_jwt_refuses_a_bad_assertion(app, client, make_assertion):
    rp = pkjwt_client(app)
    assert_invalid_client(token_request(client, make_assertion(rp)))
    # the client itself is fine: a good assertion still works
    assert_issued(token_request(client, sign_assertion(rp.client_id, RSA_KEY)), rp)


def test_assertion_expired_just_within_the_leeway_is_accepted(app, client, frozen_clock):
    rp = pkjwt_client(app)
    assertion = sign_assertion(rp.client_id, RSA_KEY, exp=_now() + 10)
    frozen_clock.advance(seconds=10 + client_auth.LEEWAY - 1)
    assert_issued(token_request(client, assertion), rp)
    late = sign_assertion(rp.client_id, RSA_KEY, exp=_now() - client_auth.LEEWAY)
    assert_invalid_client(token_request(client, late))


def test_client_secret_jwt_refuses_a_wrong_secret(app, client):
    rp = secret_jwt_client(app)
    wrong = OctKey.import_key(secrets.token_urlsafe(32))
    assert_invalid_client(token_request(client, sign_assertion(rp.client_id, wrong, alg="HS256")))


def test_client_secret_jwt_refuses_an_asymmetric_algorithm(app, client):
    rp = secret_jwt_client(app)
    assert_invalid_client(token_request(client, sign_assertion(rp.client_id, RSA_KEY)))


@pytest.mark.parametrize(
    "form",
    [
        {"client_assertion_type": "urn:example:other"},
        {"client_assertion": ""},
        {"client_id": "another-client"},
    ],
    ids=["wrong-assertion-type", "empty-assertion", "client-id-differs-from-sub"],
)
def test_assertion_request_with_bad_parameters_is_refused(app, client, form):
    rp = pkjwt_client(app)
    data = {
        "grant_type": "client_credentials",
        **assertion_form(sign_assertion(rp.client_id, RSA_KEY)),
        **form,
    }
    assert_invalid_client(client.post("/token", data=data))


# --- single use (RFC 7523 §3 item 7) ----------------------------------------------------------


@pytest.mark.parametrize("method", ["private_key_jwt", "client_secret_jwt"])
def test_replayed_assertion_is_refused(app, client, method):
    if method == "private_key_jwt":
        rp, key, alg = pkjwt_client(app), RSA_KEY, "RS256"
    else:
        rp = secret_jwt_client(app)
        key, alg = OctKey.import_key(rp.client_secret or ""), "HS256"
    assertion = sign_assertion(rp.client_id, key, alg=alg)
    assert_issued(token_request(client, assertion), rp)
    assert_invalid_client(token_request(client, assertion))
    # a new jti from the same client works: the refused replay did not break anything
    assert_issued(token_request(client, sign_assertion(rp.client_id, key, alg=alg)), rp)


def test_jti_is_tracked_per_client(app, client):
    first, second = pkjwt_client(app), pkjwt_client(app)
    jti = "shared-jti-value"
    assert_issued(token_request(client, sign_assertion(first.client_id, RSA_KEY, jti=jti)), first)
    assert_issued(token_request(client, sign_assertion(second.client_id, RSA_KEY, jti=jti)), second)
    assert_invalid_client(token_request(client, sign_assertion(first.client_id, RSA_KEY, jti=jti)))


def test_jti_may_come_back_after_its_first_assertion_expired(app, client, frozen_clock):
    rp = pkjwt_client(app)
    assert_issued(token_request(client, sign_assertion(rp.client_id, RSA_KEY, jti="j1")), rp)
    frozen_clock.advance(seconds=60 + client_auth.LEEWAY + 1)
    assert_issued(token_request(client, sign_assertion(rp.client_id, RSA_KEY, jti="j1")), rp)
    assert_invalid_client(token_request(client, sign_assertion(rp.client_id, RSA_KEY, jti="j1")))


def test_assertion_used_in_a_failed_token_request_cannot_be_replayed(app, client):
    """The jti is recorded once the client is authenticated, even if the grant then fails."""
    rp = pkjwt_client(app)
    assertion = sign_assertion(rp.client_id, RSA_KEY)
    failed = token_request(client, assertion, resource="https://not-allowed.example/")
    assert failed.status_code == 400, failed.text
    assert_invalid_client(token_request(client, assertion))


# --- the registered method only ---------------------------------------------------------------


def test_client_registered_for_a_secret_cannot_use_an_assertion(app, client):
    rp = machine(app, "client_secret_basic")
    assert rp.client_secret
    secret_key = OctKey.import_key(rp.client_secret)
    assert_invalid_client(
        token_request(client, sign_assertion(rp.client_id, secret_key, alg="HS256"))
    )
    assert_issued(token_request(client, headers=basic(rp.client_id, rp.client_secret)), rp)


def test_client_secret_jwt_client_cannot_use_its_secret_directly(app, client):
    rp = secret_jwt_client(app)
    assert rp.client_secret
    assert_invalid_client(token_request(client, headers=basic(rp.client_id, rp.client_secret)))
    response = token_request(client, client_id=rp.client_id, client_secret=rp.client_secret)
    assert_invalid_client(response)


def test_private_key_jwt_client_cannot_use_client_secret_jwt(app, client):
    rp = pkjwt_client(app)
    some_secret = OctKey.import_key(secrets.token_urlsafe(32))
    assertion = sign_assertion(rp.client_id, some_secret, alg="HS256", kid=None)
    assert_invalid_client(token_request(client, assertion))


def test_private_key_jwt_client_cannot_authenticate_with_client_id_alone(app, client):
    rp = pkjwt_client(app)
    assert_invalid_client(token_request(client, client_id=rp.client_id))


# --- one method per request (RFC 6749 §2.3) -----------------------------------------------------


def test_assertion_together_with_basic_is_invalid_request(app, client):
    rp = secret_jwt_client(app)
    key = OctKey.import_key(rp.client_secret or "")
    response = token_request(
        client,
        sign_assertion(rp.client_id, key, alg="HS256"),
        headers=basic(rp.client_id, rp.client_secret or ""),
    )
    assert response.status_code == 400, response.text
    assert response.get_json()["error"] == "invalid_request"
    assert "access_token" not in response.get_json()


def test_assertion_together_with_a_client_secret_is_invalid_request(app, client):
    rp = secret_jwt_client(app)
    key = OctKey.import_key(rp.client_secret or "")
    response = token_request(
        client,
        sign_assertion(rp.client_id, key, alg="HS256"),
        client_secret=rp.client_secret or "",
    )
    assert response.status_code == 400, response.text
    assert response.get_json()["error"] == "invalid_request"


# --- jwks_uri -----------------------------------------------------------------------------------


class JwksServer:
    """A client's JWK Set on 127.0.0.1, counting the fetches."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = public_jwks(RSA_KEY)
        self.hits = 0
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                served.hits += 1
                body = json.dumps(served.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def fresh_jwks_cache() -> Iterator[None]:
    client_auth.jwks_cache.clear()
    yield
    client_auth.jwks_cache.clear()


@pytest.fixture
def jwks_server(fresh_jwks_cache: None) -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


def test_private_key_jwt_with_jwks_uri_fetches_caches_and_follows_key_rotation(
    app, client, jwks_server, frozen_clock
):
    rp = machine(app, "private_key_jwt", jwks_uri=jwks_server.url)

    assert_issued(token_request(client, sign_assertion(rp.client_id, RSA_KEY)), rp)
    assert_issued(token_request(client, sign_assertion(rp.client_id, RSA_KEY)), rp)
    assert jwks_server.hits == 1  # cached

    new_key = RSAKey.generate_key(2048, private=True, parameters={"kid": "rsa-2"})
    jwks_server.jwks = public_jwks(new_key)
    # an unknown kid right after a fetch does not hammer the client's server
    assert_invalid_client(token_request(client, sign_assertion(rp.client_id, new_key)))
    assert jwks_server.hits == 1

    frozen_clock.advance(seconds=client_auth.JWKS_REFETCH_INTERVAL.total_seconds() + 1)
    assert_issued(token_request(client, sign_assertion(rp.client_id, new_key)), rp)
    assert jwks_server.hits == 2  # refetched once for the unknown kid
    assert_invalid_client(token_request(client, sign_assertion(rp.client_id, RSA_KEY)))

    frozen_clock.advance(seconds=client_auth.JWKS_CACHE_TTL.total_seconds() + 1)
    assert_issued(token_request(client, sign_assertion(rp.client_id, new_key)), rp)
    assert jwks_server.hits == 3  # the cache expired


def test_jwks_uri_serving_no_key_set_is_invalid_client(app, client, jwks_server):
    rp = machine(app, "private_key_jwt", jwks_uri=jwks_server.url)
    jwks_server.jwks = {"not": "a jwk set"}
    assert_invalid_client(token_request(client, sign_assertion(rp.client_id, RSA_KEY)))


def test_unreachable_jwks_uri_is_invalid_client(app, client, fresh_jwks_cache):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    rp = machine(app, "private_key_jwt", jwks_uri=f"http://127.0.0.1:{port}/jwks.json")
    assert_invalid_client(token_request(client, sign_assertion(rp.client_id, RSA_KEY)))


def test_discovery_advertises_the_assertion_methods(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    for endpoint in ("token", "revocation"):
        assert {"private_key_jwt", "client_secret_jwt", "none"} <= set(
            meta[f"{endpoint}_endpoint_auth_methods_supported"]
        )
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]
    assert "private_key_jwt" in meta["introspection_endpoint_auth_methods_supported"]
    for endpoint in ("token", "revocation", "introspection"):
        algs = set(meta[f"{endpoint}_endpoint_auth_signing_alg_values_supported"])
        assert algs == {"RS256", "PS256", "ES256", "HS256"}
    assert meta["revocation_endpoint"] == "http://localhost/revoke"
    assert meta["introspection_endpoint"] == "http://localhost/introspect"
