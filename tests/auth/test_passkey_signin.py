"""Signing in with a passkey: passwordless (POST /login/passkey/options, /login/passkey) and as
the second factor after the password (/login/mfa/passkey/options, /login/mfa/passkey), driven by
a software authenticator (tests/softauthn.py) against the real ceremony checks."""

from __future__ import annotations

import base64
import html
import json
import re
import uuid
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp import runtime
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import User
from idp.models import WebAuthnChallenge
from idp.models import WebAuthnCredential
from idp.services import audit
from idp.services import passkeys
from idp.services import webauthn_ceremonies
from tests.factories import MadeUser
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorization_params
from tests.flow import csrf_token
from tests.flow import exchange
from tests.flow import query
from tests.flow import sign_in
from tests.softauthn import SoftAuthenticator

NOT_VERIFIED = "That passkey could not be verified"
NOT_REGISTERED = "This passkey is not registered here"
EXPIRED = "expired"
LOCKED = "Too many failed attempts"


@pytest.fixture
def user(app: Flask) -> MadeUser:
    return make_user(app)


def enrol(app: Flask, user: MadeUser, **options: object) -> SoftAuthenticator:
    """Register a passkey for `user` (through the service: this file tests sign-in)."""
    authenticator = SoftAuthenticator(**options)  # type: ignore[arg-type]
    with app.app_context():
        row = db.session.get(User, user.id)
        rp = webauthn_ceremonies.RelyingParty.from_settings(runtime.settings())
        created = authenticator.create(passkeys.registration_options(row, rp))
        passkeys.register(row, created, rp, name="Test key", actor=audit.SYSTEM)
        db.session.commit()
    return authenticator


def _attribute(page: str, pattern: str) -> str:
    match = re.search(pattern, page)
    assert match, f"{pattern} not on the page"
    return html.unescape(match.group(1))


class PasskeyForm:
    """The passkey form of a page: where the options come from, where the assertion goes."""

    def __init__(self, http: FlaskClient, page_url: str) -> None:
        page = http.get(page_url)
        assert page.status_code == 200, page.text
        self.http = http
        self.csrf = csrf_token(page.text)
        form = _attribute(page.text, r'(<form[^>]*data-webauthn-ceremony="get"[^>]*>)')
        self.action = _attribute(form, r'action="([^"]+)"')
        self.options_url = _attribute(form, r'data-options-url="([^"]+)"')

    def options(self) -> dict:
        response = self.http.post(self.options_url, json={}, headers={"X-CSRFToken": self.csrf})
        assert response.status_code == 200, response.text
        return response.get_json()

    def submit(self, credential: object, **fields: str) -> TestResponse:
        value = credential if isinstance(credential, str) else json.dumps(credential)
        data = {"credential": value, "csrf_token": self.csrf, **fields}
        return self.http.post(self.action, data=data)


def passwordless(http: FlaskClient, authenticator: SoftAuthenticator, **knobs) -> TestResponse:
    form = PasskeyForm(http, "/login")
    return form.submit(authenticator.get(form.options(), **knobs))


def has_session_cookie(response: TestResponse) -> bool:
    return any(c.startswith("idp_sso=") for c in response.headers.getlist("Set-Cookie"))


def events(app: Flask, event_type: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.event_type == event_type)
                .order_by(AuditEvent.occurred_at, AuditEvent.id)
            )
        )


def decode_jwt_payload(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def follow_to_client(http: FlaskClient, response: TestResponse, redirect_uri: str) -> dict:
    for _ in range(4):  # resume the authorization request
        location = response.headers["Location"]
        if location.startswith(redirect_uri):
            break
        response = http.get(location)
    return query(response.headers["Location"])


# --- passwordless ------------------------------------------------------------------------


def test_a_synced_passkey_is_reported_as_a_software_key(app, client, user):
    """RFC 8176: a backed-up (synced) passkey can leave the device: "swk", not "hwk"."""
    authenticator = enrol(app, user, backed_up=True)
    rp = make_client(app, skip_consent=True)
    params, verifier = authorization_params(rp)
    login = client.get("/authorize?" + urlencode(params)).headers["Location"]
    form = PasskeyForm(client, login)

    response = form.submit(authenticator.get(form.options()))

    redirect = follow_to_client(client, response, rp.redirect_uri)
    tokens = exchange(client, rp, redirect["code"], verifier)
    claims = decode_jwt_payload(tokens.json["id_token"])
    assert claims["amr"] == ["swk", "pop", "user", "mfa"]
    assert claims["acr"] == "2"


def test_passwordless_sign_in_through_the_code_flow_reports_hwk_and_two_factors(app, client, user):
    authenticator = enrol(app, user)
    rp = make_client(app, skip_consent=True)
    params, verifier = authorization_params(rp)
    login = client.get("/authorize?" + urlencode(params)).headers["Location"]
    assert urlsplit(login).path == "/login"

    form = PasskeyForm(client, login)
    options = form.options()
    assert options["userVerification"] == "required" and options["allowCredentials"] == []
    assert options["rpId"] == "localhost"
    response = form.submit(authenticator.get(options))
    assert response.status_code == 303 and has_session_cookie(response)
    redirect = follow_to_client(client, response, rp.redirect_uri)
    assert redirect["state"] == params["state"]

    tokens = exchange(client, rp, redirect["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    claims = decode_jwt_payload(tokens.json["id_token"])
    assert claims["sub"] == user.id
    assert claims["amr"] == ["hwk", "pop", "user", "mfa"]
    assert claims["acr"] == "2"
    (event,) = [e for e in events(app, "login.passkey") if e.status == "success"]
    assert event.user_id == user.id and event.details["passwordless"] is True


def test_passwordless_sign_in_without_an_authorization_request_goes_home(app, client, user):
    authenticator = enrol(app, user)
    response = passwordless(client, authenticator)
    assert response.status_code == 303 and has_session_cookie(response)
    assert response.headers["Location"] == "/"
    with app.app_context():
        found = db.session.scalar(select(WebAuthnCredential))
        assert found.last_used_at is not None


def test_passwordless_sign_in_skips_the_second_factor_step(app, client, user):
    """A user-verified passkey is two factors in itself: no /login/mfa detour."""
    enrol(app, user)  # the user now has a second factor
    authenticator = enrol(app, user)
    response = passwordless(client, authenticator)
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_passwordless_requires_user_verification(app, client, user):
    authenticator = enrol(app, user)
    authenticator.user_verified = False
    response = passwordless(client, authenticator)
    assert response.status_code == 200 and NOT_VERIFIED in response.text
    assert not has_session_cookie(response)
    (event,) = events(app, "login.passkey")
    assert event.status == "failure" and event.details["reason"] == "invalid_assertion"


@pytest.mark.parametrize(
    "knobs",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://localhost:8000"},  # the port is part of the origin
        {"rp_id": "evil.example"},
    ],
    ids=["other-origin", "other-port", "other-rp-id"],
)
def test_an_assertion_for_another_site_is_refused(app, client, user, knobs):
    authenticator = enrol(app, user)
    response = passwordless(client, authenticator, **knobs)
    assert response.status_code == 200 and NOT_VERIFIED in response.text
    assert not has_session_cookie(response)


def test_a_replayed_assertion_is_refused(app, user):
    authenticator = enrol(app, user)
    first = app.test_client()
    form = PasskeyForm(first, "/login")
    assertion = authenticator.get(form.options())
    assert form.submit(assertion).status_code == 303

    # Same browser, same form: the challenge is gone.
    again = form.submit(assertion)
    assert again.status_code == 200 and EXPIRED in again.text
    # Another browser with its own fresh challenge: the old assertion names the old one.
    other = app.test_client()
    other_form = PasskeyForm(other, "/login")
    other_form.options()
    replayed = other_form.submit(assertion)
    assert replayed.status_code == 200 and not has_session_cookie(replayed)


def test_a_failed_assertion_uses_up_its_challenge(app, client, user):
    authenticator = enrol(app, user)
    form = PasskeyForm(client, "/login")
    options = form.options()
    bad = authenticator.get(options, origin="https://evil.example")
    assert NOT_VERIFIED in form.submit(bad).text
    good = authenticator.get(options)  # a correct answer to the same challenge, too late
    response = form.submit(good)
    assert response.status_code == 200 and EXPIRED in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebAuthnChallenge)) == 0


def test_an_assertion_for_another_browsers_challenge_is_refused(app, user):
    """The challenge id is kept in the browser's flow cookie: an assertion made for a
    challenge handed to one browser cannot be posted from another (login CSRF)."""
    authenticator = enrol(app, user)
    attacker = app.test_client()
    assertion = authenticator.get(PasskeyForm(attacker, "/login").options())
    victim = app.test_client()
    victim_form = PasskeyForm(victim, "/login")
    victim_form.options()
    response = victim_form.submit(assertion)
    assert response.status_code == 200 and not has_session_cookie(response)


def test_an_expired_challenge_is_refused(app, client, user, frozen_clock):
    authenticator = enrol(app, user)
    form = PasskeyForm(client, "/login")
    options = form.options()
    frozen_clock.advance(seconds=runtime_lifetime(app) + 1)
    response = form.submit(authenticator.get(options))
    assert response.status_code == 200 and EXPIRED in response.text
    assert not has_session_cookie(response)


def runtime_lifetime(app: Flask) -> int:
    with app.app_context():
        return runtime.settings().webauthn_challenge_lifetime


def test_a_sign_count_that_goes_backwards_is_refused_and_audited(app, client, user):
    authenticator = enrol(app, user, counter=5)
    assert passwordless(app.test_client(), authenticator).status_code == 303  # count 6
    response = passwordless(client, authenticator, counter=6)  # a clone replays its count
    assert response.status_code == 200 and NOT_VERIFIED in response.text
    assert not has_session_cookie(response)
    (suspected,) = events(app, "passkey.clone_suspected")
    assert suspected.user_id == user.id and suspected.status == "failure"
    assert suspected.details == {"stored_count": 6, "received_count": 6}
    # The genuine authenticator, counting on, still works.
    assert passwordless(app.test_client(), authenticator, counter=7).status_code == 303


def test_a_counter_stuck_at_zero_is_accepted(app, client, user):
    """Many passkeys never count; only the single-use challenge stops replays for them."""
    authenticator = enrol(app, user, counter=0)
    assert passwordless(app.test_client(), authenticator).status_code == 303
    assert passwordless(client, authenticator).status_code == 303


def test_an_unknown_credential_is_refused(app, client, user):
    enrol(app, user)
    stranger = SoftAuthenticator()
    stranger.user_handle = uuid.UUID(user.id).bytes
    response = passwordless(client, stranger)
    assert response.status_code == 200 and NOT_REGISTERED in response.text


def test_a_user_handle_naming_someone_else_is_refused(app, client, user):
    other = make_user(app, email="bob@example.com")
    authenticator = enrol(app, user)
    response = passwordless(client, authenticator, user_handle=uuid.UUID(other.id).bytes)
    assert response.status_code == 200 and NOT_VERIFIED in response.text
    assert not has_session_cookie(response)
    (event,) = events(app, "login.passkey")
    assert event.details["reason"] == "user_handle_mismatch"


def test_a_passwordless_assertion_without_a_user_handle_is_refused(app, client, user):
    authenticator = enrol(app, user)
    authenticator.user_handle = None
    response = passwordless(client, authenticator)
    assert response.status_code == 200 and NOT_VERIFIED in response.text


def test_a_blocked_user_cannot_sign_in_with_a_passkey(app, client, user):
    authenticator = enrol(app, user)
    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()
    response = passwordless(client, authenticator)
    assert response.status_code == 200 and not has_session_cookie(response)


def test_a_passkey_of_another_tenant_is_not_registered_here(app, client):
    from tests.factories import make_tenant

    make_tenant(app, "acme", "Acme")
    outsider = make_user(app, email="eve@acme.example", tenant_slug="acme")
    authenticator = enrol(app, outsider)
    response = passwordless(client, authenticator)  # the default tenant's login page
    assert response.status_code == 200 and NOT_REGISTERED in response.text


@pytest.mark.parametrize(
    "credential",
    ["", "not json", "[]", "{}", '{"id": "x"}', json.dumps({"id": 1, "rawId": 2}), "😀" * 10],
)
def test_malformed_credentials_are_a_400(app, client, user, credential):
    enrol(app, user)
    form = PasskeyForm(client, "/login")
    form.options()
    response = form.submit(credential)
    assert response.status_code == 400
    assert "unusable passkey response" in response.text


@pytest.mark.parametrize(
    "mangle",
    [
        lambda a: a["response"].update(signature="AAAA"),
        lambda a: a["response"].update(clientDataJSON="bm90IGpzb24"),  # "not json"
        lambda a: a["response"].update(clientDataJSON="e30"),  # {}: names no challenge
        lambda a: a["response"].update(authenticatorData="AAAA"),
        lambda a: a.update(id="b3RoZXI"),  # id and rawId disagree
    ],
    ids=["signature", "client-data-not-json", "no-challenge", "short-auth-data", "id-mismatch"],
)
def test_forged_assertions_show_the_page_again_never_a_500(app, client, user, mangle):
    authenticator = enrol(app, user)
    form = PasskeyForm(client, "/login")
    assertion = authenticator.get(form.options())
    mangle(assertion)
    response = form.submit(assertion)
    assert response.status_code in (200, 400)
    assert "Sign in" in response.text and not has_session_cookie(response)


def test_the_options_and_the_assertion_need_the_csrf_token(app, client, user):
    authenticator = enrol(app, user)
    form = PasskeyForm(client, "/login")
    assert client.post(form.options_url, json={}).status_code == 400
    assertion = authenticator.get(form.options())
    response = client.post(form.action, data={"credential": json.dumps(assertion)})
    assert response.status_code == 400 and not has_session_cookie(response)


def test_the_login_page_offers_passkeys_only_to_capable_browsers(client):
    page = client.get("/login").text
    form = _attribute(page, r'(<form[^>]*data-webauthn-ceremony="get"[^>]*>)')
    assert " hidden" in form  # webauthn.js shows it where PublicKeyCredential exists
    assert "Sign in with a passkey" in page
    assert '<script src="/static/webauthn.js" defer></script>' in page
    assert client.get("/static/webauthn.js").status_code == 200


def test_purge_deletes_expired_challenges(app, client, frozen_clock):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from idp.cli import main

    form = PasskeyForm(client, "/login")
    form.options()
    form.options()

    def purge() -> dict:
        result = CliRunner().invoke(
            main, ["purge", "--json"], obj=ScriptInfo(create_app=lambda: app)
        )
        return json.loads(result.stdout)

    assert purge()["webauthn_challenges"] == 0
    frozen_clock.advance(seconds=runtime_lifetime(app) + 1)
    assert purge()["webauthn_challenges"] == 2


# --- second factor -----------------------------------------------------------------------


def password_step(http: FlaskClient, user: MadeUser, url: str = "/login") -> None:
    response = sign_in(http, url, user.email, user.password)
    assert response.status_code == 303, response.text
    assert response.headers["Location"] == "/login/mfa"


def test_passkey_as_the_second_factor_after_the_password(app, client, user):
    authenticator = enrol(app, user, user_verified=False)  # a plain security key: UP only
    rp = make_client(app, skip_consent=True)
    params, verifier = authorization_params(rp)
    login = client.get("/authorize?" + urlencode(params)).headers["Location"]
    password_step(client, user, login)

    form = PasskeyForm(client, "/login/mfa")
    assert form.action == "/login/mfa/passkey"
    options = form.options()
    assert [c["id"] for c in options["allowCredentials"]] == [authenticator.id]
    assert options["userVerification"] == "preferred"
    response = form.submit(authenticator.get(options))
    assert response.status_code == 303 and has_session_cookie(response)
    redirect = follow_to_client(client, response, rp.redirect_uri)

    tokens = exchange(client, rp, redirect["code"], verifier)
    claims = decode_jwt_payload(tokens.json["id_token"])
    assert claims["amr"] == ["pwd", "hwk", "pop", "mfa"]
    assert claims["acr"] == "2"


def test_second_factor_can_trust_the_device(app, client, user):
    authenticator = enrol(app, user)
    password_step(client, user)
    form = PasskeyForm(client, "/login/mfa")
    response = form.submit(authenticator.get(form.options()), trust_device="1")
    assert response.status_code == 303
    client.post("/logout")  # whatever the logout page does, the device stays trusted
    client.delete_cookie("idp_sso")
    again = sign_in(client, "/login", user.email, user.password)
    assert again.status_code == 303 and again.headers["Location"] != "/login/mfa"


def test_second_factor_refuses_another_users_passkey(app, client, user):
    enrol(app, user)
    other = make_user(app, email="bob@example.com")
    bobs = enrol(app, other)
    password_step(client, user)
    form = PasskeyForm(client, "/login/mfa")
    response = form.submit(bobs.get(form.options()))
    assert response.status_code == 200 and NOT_VERIFIED in response.text
    assert not has_session_cookie(response)


def test_second_factor_needs_a_pending_sign_in(app, client, user):
    enrol(app, user)
    page = client.get("/login")
    token = csrf_token(page.text)
    options = client.post("/login/mfa/passkey/options", json={}, headers={"X-CSRFToken": token})
    assert options.status_code == 401 and options.is_json
    response = client.post("/login/mfa/passkey", data={"csrf_token": token, "credential": "{}"})
    assert response.status_code == 303 and urlsplit(response.headers["Location"]).path == "/login"


def test_failed_passkey_second_factors_lock_the_account(app, client, user):
    authenticator = enrol(app, user)
    password_step(client, user)
    for attempt in range(5):
        form = PasskeyForm(client, "/login/mfa")
        response = form.submit(authenticator.get(form.options(), origin="https://evil.example"))
        if attempt < 4:
            assert response.status_code == 200 and NOT_VERIFIED in response.text
    assert response.status_code == 429 and LOCKED in response.text
    with app.app_context():
        assert db.session.get(User, user.id).failed_login_count == 5
    (locked,) = events(app, "user.locked")
    assert locked.details["step"] == "webauthn"


def test_a_good_passkey_second_factor_resets_the_failure_count(app, client, user):
    authenticator = enrol(app, user)
    password_step(client, user)
    form = PasskeyForm(client, "/login/mfa")
    form.submit(authenticator.get(form.options(), origin="https://evil.example"))
    form = PasskeyForm(client, "/login/mfa")
    assert form.submit(authenticator.get(form.options())).status_code == 303
    with app.app_context():
        assert db.session.get(User, user.id).failed_login_count == 0


def test_second_factor_malformed_credential_is_a_400(app, client, user):
    enrol(app, user)
    password_step(client, user)
    form = PasskeyForm(client, "/login/mfa")
    form.options()
    assert form.submit("not json").status_code == 400


def test_a_locked_out_user_can_still_sign_in_with_a_passkey(app, client, user):
    """The lockout stops password guessing; a user-verified passkey guesses nothing."""
    authenticator = enrol(app, user)
    for _ in range(5):
        sign_in(app.test_client(), "/login", user.email, "wrong password!")
    locked = sign_in(app.test_client(), "/login", user.email, user.password)
    assert LOCKED in locked.text
    response = passwordless(client, authenticator)
    assert response.status_code == 303 and has_session_cookie(response)
    with app.app_context():
        row = db.session.get(User, user.id)
        assert row.failed_login_count == 0 and row.locked_until is None
