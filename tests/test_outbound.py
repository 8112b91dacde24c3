"""Server-side requests to client-registered URLs reach only public addresses (SSRF)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from idp.outbound import DestinationRefused
from idp.outbound import check_destination


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/jwks",
        "http://localhost/jwks",
        "https://10.1.2.3/bc",
        "https://192.168.0.1/bc",
        "https://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "ftp://example.com/x",
        "https:///nohost",
    ],
)
def test_internal_and_odd_destinations_are_refused(url):
    with pytest.raises(DestinationRefused):
        check_destination(url, allow_internal=False)


def test_loopback_is_allowed_when_the_deployment_is_local():
    check_destination("http://127.0.0.1:8080/jwks", allow_internal=True)


def test_internal_callbacks_follow_the_issuer(settings):
    assert settings.internal_callbacks_allowed  # http://localhost in tests
    public = replace(settings, issuer="https://id.example.com")
    assert not public.internal_callbacks_allowed
    assert replace(public, allow_internal_callbacks=True).internal_callbacks_allowed


def test_a_public_deployment_never_fetches_a_loopback_jwks_uri(settings):
    import time

    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from idp import create_app
    from idp.cli import initialize
    from tests.factories import make_client

    app = create_app(replace(settings, issuer="https://id.example.com"))
    with app.app_context():
        initialize()
    rp = make_client(
        app,
        grant_types=["client_credentials"],
        redirect_uri=None,
        auth_method="private_key_jwt",
        jwks_uri="http://127.0.0.1:9/jwks",
    )
    now = int(time.time())
    claims = {
        "iss": rp.client_id,
        "sub": rp.client_id,
        "aud": "https://id.example.com/token",
        "jti": "one",
        "iat": now,
        "exp": now + 60,
    }
    assertion = jwt.encode({"alg": "RS256"}, claims, RSAKey.generate_key(2048))
    response = app.test_client().post(
        "/token",
        base_url="https://id.example.com",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert response.status_code == 401
    assert "not reachable" in response.get_json()["error_description"]
