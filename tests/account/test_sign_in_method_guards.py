"""Guards around adding and removing sign-in methods, found by a security review: an
unverified address cannot get a second factor (account pre-hijacking), removing a passkey
needs a recent sign-in and takes orphaned backup codes with it, a WebAuthn challenge is
spent once even by racing requests, and malformed attestations are the caller's 4xx."""

from __future__ import annotations

import cbor2
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy import text

from idp.extensions import db
from idp.models import User
from idp.models import WebAuthnChallenge
from idp.services import audit
from idp.services import backup_codes
from idp.services import mfa
from idp.services import webauthn_ceremonies
from tests.accounts import account_token
from tests.accounts import csrf_header
from tests.accounts import signed_in
from tests.factories import MadeUser
from tests.factories import make_user
from tests.flow import csrf_token
from tests.softauthn import SoftAuthenticator
from tests.softauthn import b64url
from tests.softauthn import unb64url

PASSKEYS = "/account/v1/passkeys"


def register_passkey(http, headers: dict[str, str]) -> dict:
    options = http.post(f"{PASSKEYS}/registration-options", headers=headers)
    assert options.status_code == 200, options.text
    credential = SoftAuthenticator().create(options.get_json())
    created = http.post(PASSKEYS, json={"credential": credential}, headers=headers)
    assert created.status_code == 201, created.text
    return created.get_json()


def remaining_backup_codes(app: Flask, user: MadeUser) -> int:
    with app.app_context():
        return backup_codes.remaining(db.session.get(User, user.id))


@pytest.mark.parametrize(
    "path", ["/account/v1/mfa/totp", f"{PASSKEYS}/registration-options"], ids=["totp", "passkey"]
)
def test_an_unverified_address_cannot_get_a_second_factor(app, client, path):
    user = make_user(app, email_verified=False)
    signed_in(client, user)

    refused = client.post(path, headers=csrf_header(client))

    assert refused.status_code == 409
    assert refused.json["detail"] == mfa.UNVERIFIED
    with app.app_context():
        db.session.get(User, user.id).email_verified = True
        db.session.commit()
    assert client.post(path, headers=csrf_header(client)).status_code == 200


def test_the_two_step_page_says_why_instead_of_failing(app, client):
    user = make_user(app, email_verified=False)
    signed_in(client, user)
    page = client.get("/account/two-step")

    response = client.post(
        "/account/two-step/totp/setup", data={"csrf_token": csrf_token(page.text)}
    )

    assert response.status_code == 303
    assert mfa.UNVERIFIED in client.get(response.headers["Location"]).text


def test_removing_a_passkey_needs_a_recent_sign_in(app, client, frozen_clock):
    user = make_user(app)
    token = account_token(app, client, user)
    headers = {"Authorization": f"Bearer {token}"}
    passkey = register_passkey(client, headers)
    frozen_clock.advance(minutes=11)

    stale = client.delete(f"{PASSKEYS}/{passkey['id']}", headers=headers)

    assert stale.status_code == 401
    assert 'error="insufficient_user_authentication"' in stale.headers["WWW-Authenticate"]
    assert len(client.get(PASSKEYS, headers=headers).json["items"]) == 1


def test_removing_the_last_second_factor_drops_the_backup_codes(app, client):
    user = make_user(app)
    signed_in(client, user)
    first = register_passkey(client, csrf_header(client))
    second = register_passkey(client, csrf_header(client))
    with app.app_context():
        backup_codes.generate(db.session.get(User, user.id), audit.SYSTEM)
        db.session.commit()

    client.delete(f"{PASSKEYS}/{first['id']}", headers=csrf_header(client))
    assert remaining_backup_codes(app, user) == 10  # a second factor is left
    client.delete(f"{PASSKEYS}/{second['id']}", headers=csrf_header(client))

    assert remaining_backup_codes(app, user) == 0


def test_a_challenge_already_taken_by_another_request_is_refused(app, client):
    user = make_user(app)
    signed_in(client, user)
    options = client.post(f"{PASSKEYS}/registration-options", headers=csrf_header(client))
    challenge = options.json["challenge"]
    client_data = SoftAuthenticator()._client_data("webauthn.create", challenge, None)
    with app.app_context():
        row = db.session.get(WebAuthnChallenge, challenge)  # this request has read it...
        assert row is not None
        with db.engine.begin() as other:  # ...when a racing request spends it
            other.execute(text("DELETE FROM webauthn_challenges WHERE id = :id"), {"id": challenge})
        with pytest.raises(webauthn_ceremonies.PasskeyFailed):
            webauthn_ceremonies.consume_challenge(
                client_data,
                tenant_id=user.tenant_id,
                purpose=webauthn_ceremonies.REGISTER,
                user=db.session.get(User, user.id),
                expected_id=None,
            )
        db.session.rollback()
        assert db.session.scalars(select(WebAuthnChallenge)).all() == []


def test_a_public_key_without_its_algorithm_is_422_not_500(app, client):
    user = make_user(app)
    signed_in(client, user)
    headers = csrf_header(client)
    options = client.post(f"{PASSKEYS}/registration-options", headers=headers).get_json()
    authenticator = SoftAuthenticator()
    credential = authenticator.create(options)
    attestation = cbor2.loads(unb64url(credential["response"]["attestationObject"]))
    auth_data = attestation["authData"]
    head = 37 + 16 + 2 + len(authenticator.credential_id)  # rp hash, flags, count, aaguid, len
    cose = cbor2.loads(auth_data[head:])
    del cose[3]  # no "alg"
    attestation["authData"] = auth_data[:head] + cbor2.dumps(cose)
    credential["response"]["attestationObject"] = b64url(cbor2.dumps(attestation))

    response = client.post(PASSKEYS, json={"credential": credential}, headers=headers)

    assert response.status_code == 422, response.text
    assert response.mimetype == "application/problem+json"
