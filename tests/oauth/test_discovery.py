"""Discovery (OIDC Discovery §4, RFC 8414) and JWKS, with caching headers."""

from __future__ import annotations

import pytest
from joserfc.jwk import KeySet

from idp import runtime
from idp.extensions import db
from idp.services import signing_keys


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_discovery_advertises_every_endpoint(client, path):
    response = client.get(path)
    assert response.status_code == 200
    meta = response.get_json()
    assert meta["issuer"] == "http://localhost"
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert meta[key].startswith("http://localhost/")
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "plain" not in meta["code_challenge_methods_supported"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["request_parameter_supported"] is False
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "none",
    }
    assert "public, max-age=" in response.headers["Cache-Control"]
    assert response.headers["ETag"]


def test_advertised_endpoints_answer(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    for key in ("jwks_uri", "userinfo_endpoint", "token_endpoint"):
        path = meta[key].removeprefix("http://localhost")
        assert client.get(path).status_code in (200, 401, 405)


def test_discovery_answers_304_to_a_matching_etag(client):
    first = client.get("/.well-known/openid-configuration")
    again = client.get(
        "/.well-known/openid-configuration", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304


def test_jwks_publishes_public_keys_only(client):
    response = client.get("/jwks.json")
    assert response.status_code == 200
    assert "max-age=" in response.headers["Cache-Control"]
    keys = response.get_json()["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    for key in keys:
        assert key["kid"] and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()
    KeySet.import_key_set(response.get_json())  # well-formed


def test_rotated_key_stays_published_until_its_tokens_expire(app, client, frozen_clock):
    before = {k["kid"] for k in client.get("/jwks.json").get_json()["keys"]}
    with app.app_context():
        from datetime import timedelta

        new = signing_keys.rotate("RS256", publish_for=timedelta(hours=1))
        db.session.commit()
        new_kid = new.kid
        runtime.keyring().invalidate()
    after = {k["kid"] for k in client.get("/jwks.json").get_json()["keys"]}
    assert before < after and new_kid in after
    frozen_clock.advance(hours=1, seconds=1)
    with app.app_context():
        runtime.keyring().invalidate()
    later = {k["kid"] for k in client.get("/jwks.json").get_json()["keys"]}
    assert new_kid in later and len(later) == 2  # the old RS256 key is gone


def test_private_keys_are_encrypted_at_rest(app):
    with app.app_context():
        for record in signing_keys.list_all():
            assert record.private_jwk_encrypted.startswith("v1.")
            assert '"d"' not in record.private_jwk_encrypted
            assert signing_keys.load_private_jwk(record)["d"]
