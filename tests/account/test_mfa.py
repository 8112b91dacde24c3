"""/account/v1/mfa: status, authenticator-app setup / verify / disable, backup codes."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import BackupCode
from idp.models import TotpCredential
from idp.models import User
from idp.models import WebAuthnCredential
from tests.accounts import account_token
from tests.accounts import csrf_header
from tests.accounts import signed_in
from tests.factories import MadeUser
from tests.factories import make_client
from tests.factories import make_tenant
from tests.factories import make_user
from tests.flow import csrf_token

CODE_FORMAT = re.compile(
    r"^[23456789abcdefghjkmnpqrstuvwxyz]{5}-[23456789abcdefghjkmnpqrstuvwxyz]{5}$"
)


@pytest.fixture
def user(app: Flask) -> MadeUser:
    return make_user(app)


@pytest.fixture
def http(client: FlaskClient, user: MadeUser) -> FlaskClient:
    """Signed in through the hosted page: the SSO cookie authenticates, writes need CSRF."""
    return signed_in(client, user)


def post(http: FlaskClient, path: str, body: dict | None = None):
    return http.post("/account/v1" + path, json=body or {}, headers=csrf_header(http))


def delete(http: FlaskClient, path: str, body: dict | None = None):
    return http.delete("/account/v1" + path, json=body or {}, headers=csrf_header(http))


def status(http: FlaskClient) -> dict:
    response = http.get("/account/v1/mfa")
    assert response.status_code == 200, response.text
    return response.json


def enable(http: FlaskClient, frozen_clock) -> tuple[pyotp.TOTP, list[str]]:
    """Set up and confirm with the previous step's code, leaving the current step unused."""
    setup = post(http, "/mfa/totp")
    assert setup.status_code == 200, setup.text
    app_ = pyotp.TOTP(setup.json["secret"])
    previous = app_.at(frozen_clock.current - timedelta(seconds=30))
    confirmed = post(http, "/mfa/totp/verify", {"code": previous})
    assert confirmed.status_code == 200, confirmed.text
    return app_, confirmed.json["backup_codes"]


def event_types(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.event_type).order_by(AuditEvent.id)))


def failed_count(app: Flask, user: MadeUser) -> int:
    with app.app_context():
        return db.session.get(User, user.id).failed_login_count


# --- status and setup --------------------------------------------------------------------------


def test_status_of_a_new_user(http):
    assert status(http) == {
        "totp": {"enabled": False, "confirmed_at": None},
        "webauthn": {"count": 0},
        "backup_codes": {"remaining": 0},
    }


def test_setup_returns_secret_uri_and_svg(app, http, user):
    response = post(http, "/mfa/totp")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert set(body) == {"secret", "qr_code_uri", "qr_code_svg"}
    assert re.fullmatch(r"[A-Z2-7]{32}", body["secret"])  # 160 bits, base32
    uri = urlsplit(body["qr_code_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert uri.path == "/localhost:alice%40example.com"
    assert parse_qs(uri.query) == {"secret": [body["secret"]], "issuer": ["localhost"]}
    assert body["qr_code_svg"].startswith("<svg") and "<?xml" not in body["qr_code_svg"]
    assert status(http)["totp"]["enabled"] is False  # not before a code confirms it

    with app.app_context():
        stored = db.session.scalar(select(TotpCredential))
        assert body["secret"] not in stored.secret_encrypted  # encrypted at rest
        assert stored.confirmed_at is None


def test_another_tenant_names_itself_in_the_authenticator_app(app, client):
    make_tenant(app, "acme", "Acme Corp")
    bob = make_user(app, "bob@acme.example", tenant_slug="acme")
    rp = make_client(
        app, tenant_slug="acme", skip_consent=True, scopes=["openid", "profile", "account"]
    )
    token = account_token(app, client, bob, client=rp)
    response = client.post(
        "/account/v1/mfa/totp", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    uri = urlsplit(response.json["qr_code_uri"])
    assert uri.path == "/Acme%20Corp:bob%40acme.example"
    assert parse_qs(uri.query)["issuer"] == ["Acme Corp"]


def test_setting_up_again_replaces_an_unconfirmed_secret(http, frozen_clock):
    first = post(http, "/mfa/totp").json["secret"]
    second = post(http, "/mfa/totp").json["secret"]
    assert first != second
    stale = pyotp.TOTP(first).at(frozen_clock.current)
    response = post(http, "/mfa/totp/verify", {"code": stale})
    assert response.status_code == 422
    assert "code" in response.json["errors"]
    fresh = pyotp.TOTP(second).at(frozen_clock.current)
    assert post(http, "/mfa/totp/verify", {"code": fresh}).status_code == 200


def test_verify_enables_and_returns_ten_backup_codes(app, http, frozen_clock):
    secret = post(http, "/mfa/totp").json["secret"]
    response = post(http, "/mfa/totp/verify", {"code": pyotp.TOTP(secret).at(frozen_clock.current)})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    codes = response.json["backup_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(CODE_FORMAT.match(code) for code in codes)
    now = status(http)
    assert now["totp"]["enabled"] is True and now["totp"]["confirmed_at"]
    assert now["backup_codes"] == {"remaining": 10}
    with app.app_context():
        hashes = list(db.session.scalars(select(BackupCode.code_hash)))
        assert len(hashes) == 10
        assert all(h.startswith("$argon2id$") for h in hashes)
        assert not any(code.replace("-", "") in h for code in codes for h in hashes)
    assert event_types(app)[-3:] == [
        "mfa.totp.setup_started",
        "mfa.totp.enabled",
        "mfa.backup_codes.generated",
    ]


def test_setup_refused_while_an_app_is_enabled(http, frozen_clock):
    enable(http, frozen_clock)
    response = post(http, "/mfa/totp")
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "code"),
        ({"code": ""}, "code"),
        ({"code": 123456}, "code"),
        ({"code": "x" * 65}, "code"),
        ({"code": "123456", "extra": 1}, "extra"),
    ],
)
def test_verify_rejects_bad_input(http, body, field):
    post(http, "/mfa/totp")
    response = post(http, "/mfa/totp/verify", body)
    assert response.status_code == 422
    assert field in response.json["errors"]


@pytest.mark.parametrize("code", ["000000", "12345", "abcdef", "１２３４５６"])
def test_verify_rejects_a_wrong_code(http, code):
    post(http, "/mfa/totp")
    response = post(http, "/mfa/totp/verify", {"code": code})
    assert response.status_code == 422
    assert status(http)["totp"]["enabled"] is False


def test_verify_without_setup_or_twice_is_a_conflict(http, frozen_clock):
    assert post(http, "/mfa/totp/verify", {"code": "123456"}).status_code == 409
    app_, _ = enable(http, frozen_clock)
    again = post(http, "/mfa/totp/verify", {"code": app_.at(frozen_clock.current)})
    assert again.status_code == 409


def test_setup_refuses_unknown_fields(http):
    response = post(http, "/mfa/totp", {"secret": "AAAA"})
    assert response.status_code == 422
    assert "secret" in response.json["errors"]


# --- disable -----------------------------------------------------------------------------------


def test_disable_with_a_current_code(app, http, frozen_clock):
    app_, _ = enable(http, frozen_clock)
    response = delete(http, "/mfa/totp", {"code": app_.at(frozen_clock.current)})
    assert response.status_code == 204, response.text
    # The last second factor went: the backup codes go with it.
    assert status(http) == {
        "totp": {"enabled": False, "confirmed_at": None},
        "webauthn": {"count": 0},
        "backup_codes": {"remaining": 0},
    }
    assert event_types(app)[-2:] == ["mfa.totp.disabled", "mfa.backup_codes.deleted"]


def test_disable_with_the_password(http, user, frozen_clock):
    enable(http, frozen_clock)
    assert delete(http, "/mfa/totp", {"password": user.password}).status_code == 204


def test_disable_with_a_backup_code_spends_it(http, frozen_clock):
    _, codes = enable(http, frozen_clock)
    assert delete(http, "/mfa/totp", {"code": codes[0].upper()}).status_code == 204


def test_disable_keeps_backup_codes_while_a_passkey_remains(app, http, user, frozen_clock):
    _, codes = enable(http, frozen_clock)
    with app.app_context():
        db.session.add(
            WebAuthnCredential(
                tenant_id=user.tenant_id,
                user_id=user.id,
                credential_id="cred-1",
                public_key=b"k",
                name="Key",
            )
        )
        db.session.commit()
    assert delete(http, "/mfa/totp", {"code": codes[0]}).status_code == 204
    now = status(http)
    assert now["webauthn"] == {"count": 1}
    assert now["backup_codes"] == {"remaining": 9}  # the one spent as proof is gone


def test_disable_refuses_the_code_that_enabled_it(http, frozen_clock):
    """The confirming code's step is spent: no replay, even to disable."""
    setup = post(http, "/mfa/totp").json
    code = pyotp.TOTP(setup["secret"]).at(frozen_clock.current)
    assert post(http, "/mfa/totp/verify", {"code": code}).status_code == 200
    response = delete(http, "/mfa/totp", {"code": code})
    assert response.status_code == 422
    assert status(http)["totp"]["enabled"] is True


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"code", "password"}),
        ({"code": "123456", "password": "x"}, {"code", "password"}),
        ({"code": "000000"}, {"code"}),
        ({"password": "not the password"}, {"password"}),
        ({"pin": "1234"}, {"pin"}),
    ],
)
def test_disable_needs_one_right_proof(http, frozen_clock, body, fields):
    enable(http, frozen_clock)
    response = delete(http, "/mfa/totp", body)
    assert response.status_code == 422
    assert set(response.json["errors"]) == fields
    assert status(http)["totp"]["enabled"] is True


def test_wrong_proofs_count_toward_the_lockout(app, http, user, frozen_clock):
    enable(http, frozen_clock)
    for attempt in range(1, 5):
        assert delete(http, "/mfa/totp", {"password": "guess"}).status_code == 422
        assert failed_count(app, user) == attempt
    response = delete(http, "/mfa/totp", {"password": "guess"})
    assert response.status_code == 429
    assert response.json["type"] == "account-locked"
    assert int(response.headers["Retry-After"]) >= 59
    # While locked even the right password is refused, here and at sign-in.
    response = delete(http, "/mfa/totp", {"password": user.password})
    assert response.status_code == 429
    assert "user.locked" in event_types(app)

    frozen_clock.advance(seconds=61)
    assert delete(http, "/mfa/totp", {"password": user.password}).status_code == 204
    assert failed_count(app, user) == 0


def test_a_user_without_a_password_proves_with_a_code(app, http, user, frozen_clock):
    app_, _ = enable(http, frozen_clock)
    with app.app_context():
        db.session.get(User, user.id).password_hash = None
        db.session.commit()
    response = delete(http, "/mfa/totp", {"password": "anything"})
    assert response.status_code == 422
    assert response.json["errors"] == {"password": ["no password is set"]}
    assert delete(http, "/mfa/totp", {"code": app_.at(frozen_clock.current)}).status_code == 204


def test_dropping_an_unconfirmed_setup_needs_no_proof(app, http):
    post(http, "/mfa/totp")
    assert delete(http, "/mfa/totp").status_code == 204
    assert "mfa.totp.setup_cancelled" in event_types(app)
    assert delete(http, "/mfa/totp").status_code == 404


# --- backup codes ------------------------------------------------------------------------------


def test_regenerate_replaces_every_code(app, http, user, frozen_clock):
    app_, old = enable(http, frozen_clock)
    response = post(http, "/mfa/backup-codes", {"password": user.password})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    new = response.json["backup_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert status(http)["backup_codes"] == {"remaining": 10}
    # An old code is no proof any more; a new one is (and is spent).
    assert post(http, "/mfa/backup-codes", {"code": old[1]}).status_code == 422
    again = post(http, "/mfa/backup-codes", {"code": new[0]})
    assert again.status_code == 200
    assert "mfa.backup_codes.generated" in event_types(app)


def test_regenerate_with_a_current_code(http, frozen_clock):
    app_, _ = enable(http, frozen_clock)
    response = post(http, "/mfa/backup-codes", {"code": app_.at(frozen_clock.current)})
    assert response.status_code == 200


def test_regenerate_needs_a_second_factor(http, user):
    response = post(http, "/mfa/backup-codes", {"password": user.password})
    assert response.status_code == 409


@pytest.mark.parametrize("body", [{}, {"password": "wrong"}, {"code": "aaaaa-aaaaa"}])
def test_regenerate_needs_a_right_proof(http, frozen_clock, body):
    _, codes = enable(http, frozen_clock)
    assert post(http, "/mfa/backup-codes", body).status_code == 422
    assert status(http)["backup_codes"] == {"remaining": 10}


# --- authentication ----------------------------------------------------------------------------


def test_requires_authentication(client):
    response = client.get("/account/v1/mfa")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_cookie_write_without_csrf_header_is_refused(http):
    response = http.post("/account/v1/mfa/totp", json={})
    assert response.status_code == 400
    assert status(http)["totp"]["enabled"] is False
    with http.application.app_context():
        assert db.session.scalar(select(TotpCredential)) is None


def test_access_token_with_account_scope(app, client, user, frozen_clock):
    token = account_token(app, client, user)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/account/v1/mfa", headers=headers).status_code == 200
    setup = client.post("/account/v1/mfa/totp", json={}, headers=headers)
    assert setup.status_code == 200  # no CSRF token needed with a bearer token
    code = pyotp.TOTP(setup.json["secret"]).at(frozen_clock.current)
    verified = client.post("/account/v1/mfa/totp/verify", json={"code": code}, headers=headers)
    assert verified.status_code == 200


def test_access_token_without_account_scope_is_forbidden(app, client, user):
    token = account_token(app, client, user, scope="profile")
    headers = {"Authorization": f"Bearer {token}"}
    for method, path in [
        ("get", "/mfa"),
        ("post", "/mfa/totp"),
        ("post", "/mfa/totp/verify"),
        ("delete", "/mfa/totp"),
        ("post", "/mfa/backup-codes"),
    ]:
        response = getattr(client, method)("/account/v1" + path, json={}, headers=headers)
        assert response.status_code == 403, (method, path)


# --- the hosted page /account/two-step ---------------------------------------------------------


def page_form(http: FlaskClient, path: str, data: dict | None = None):
    page = http.get("/account/two-step")
    assert page.status_code == 200, page.text
    return http.post(path, data={**(data or {}), "csrf_token": csrf_token(page.text)})


def test_page_needs_a_signed_in_user(client):
    response = client.get("/account/two-step")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/account/two-step"


def test_page_sets_up_confirms_and_shows_backup_codes_once(app, http, frozen_clock):
    page = http.get("/account/two-step")
    assert "Set up authenticator app" in page.text
    response = page_form(http, "/account/two-step/totp/setup")
    assert response.status_code == 303 and response.headers["Location"] == "/account/two-step"

    page = http.get("/account/two-step")
    assert page.headers["Cache-Control"] == "no-store"
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page.text and "<?xml" not in page.text
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    assert len(secret) == 32
    assert 'autocomplete="one-time-code"' in page.text

    wrong = page_form(http, "/account/two-step/totp/confirm", {"code": "000000"})
    assert wrong.status_code == 303
    assert "That code is not correct" in http.get("/account/two-step").text

    code = pyotp.TOTP(secret).at(frozen_clock.current)
    response = page_form(http, "/account/two-step/totp/confirm", {"code": code})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    shown = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", response.text)
    assert len(shown) == 10 and all(CODE_FORMAT.match(c) for c in shown)
    assert status(http)["totp"]["enabled"] is True

    again = http.get("/account/two-step")
    assert not set(shown) & set(re.findall(r"[a-z0-9]{5}-[a-z0-9]{5}", again.text))
    assert "On since" in again.text and "10 of 10 backup codes left." in again.text


def test_page_cancels_an_unconfirmed_setup(http):
    page_form(http, "/account/two-step/totp/setup")
    response = page_form(http, "/account/two-step/totp/cancel")
    assert response.status_code == 303
    assert "Set up authenticator app" in http.get("/account/two-step").text
    assert status(http)["totp"] == {"enabled": False, "confirmed_at": None}


def test_page_disables_with_a_code_or_refuses_a_wrong_password(app, http, user, frozen_clock):
    app_, _ = enable(http, frozen_clock)
    response = page_form(http, "/account/two-step/totp/disable", {"password": "not it"})
    assert response.status_code == 303
    assert "That password is not correct." in http.get("/account/two-step").text
    assert failed_count(app, user) == 1
    assert status(http)["totp"]["enabled"] is True

    empty = page_form(http, "/account/two-step/totp/disable", {"code": "", "password": ""})
    assert empty.status_code == 303
    assert "Enter a code from your app" in http.get("/account/two-step").text

    code = app_.at(frozen_clock.current)
    response = page_form(http, "/account/two-step/totp/disable", {"code": code, "password": ""})
    assert response.status_code == 303
    page = http.get("/account/two-step")
    assert "Your authenticator app is off." in page.text
    assert status(http)["backup_codes"] == {"remaining": 0}


def test_page_regenerates_backup_codes(http, user, frozen_clock):
    _, old = enable(http, frozen_clock)
    response = page_form(http, "/account/two-step/backup-codes", {"password": user.password})
    assert response.status_code == 200
    shown = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", response.text)
    assert len(shown) == 10 and not set(shown) & set(old)
    refused = page_form(http, "/account/two-step/backup-codes", {"code": old[0]})
    assert refused.status_code == 303
    assert "That code is not correct" in http.get("/account/two-step").text


def test_page_locks_out_after_wrong_proofs(app, http, user, frozen_clock):
    enable(http, frozen_clock)
    for _ in range(5):
        page_form(http, "/account/two-step/totp/disable", {"password": "guess"})
    page = http.get("/account/two-step")
    assert "Too many failed attempts. Try again in 1 minute." in page.text


def test_page_posts_need_the_csrf_token(http):
    for path in ["totp/setup", "totp/confirm", "totp/cancel", "totp/disable", "backup-codes"]:
        assert http.post(f"/account/two-step/{path}", data={"code": "1"}).status_code == 400
    assert status(http)["totp"]["enabled"] is False
