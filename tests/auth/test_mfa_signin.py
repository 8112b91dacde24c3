"""The second sign-in step (GET/POST /login/mfa): authenticator codes, backup codes, replay,
clock drift, the progressive lockout (password and second factor) and the parked sign-in."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp import clock
from idp import security
from idp.extensions import db
from idp.extensions import limiter
from idp.models import AuditEvent
from idp.models import BackupCode
from idp.models import TotpCredential
from idp.models import User
from idp.services import audit
from idp.services import totp
from tests.factories import MadeUser
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorization_params
from tests.flow import csrf_token
from tests.flow import exchange
from tests.flow import query
from tests.flow import sign_in

GENERIC_ERROR = "Incorrect e-mail address or password."
LOCKED = "Too many failed attempts"
TOTP_ERROR = "That code didn&#39;t work"
BACKUP_ERROR = "That backup code didn&#39;t work"


def enrol_totp(app: Flask, user: MadeUser, now) -> tuple[pyotp.TOTP, list[str]]:
    """Turn on an authenticator app for `user`; confirmed with the previous step's code
    (inside the drift window), so the current step's code is still unused."""
    with app.app_context():
        row = db.session.get(User, user.id)
        setup = totp.begin_setup(row, issuer_name="Test", actor=audit.SYSTEM)
        app_ = pyotp.TOTP(setup.secret)
        codes = totp.confirm(row, app_.at(now - timedelta(seconds=30)), actor=audit.SYSTEM)
        db.session.commit()
    return app_, codes


def password_step(http: FlaskClient, user: MadeUser, url: str = "/login") -> TestResponse:
    response = sign_in(http, url, user.email, user.password)
    assert response.status_code == 303, response.text
    assert response.headers["Location"] == "/login/mfa"
    return response


def submit(
    http: FlaskClient, code: str, *, method: str = "totp", trust_device: bool = False
) -> TestResponse:
    page = http.get("/login/mfa")
    assert page.status_code == 200, page.text
    data = {"method": method, "code": code, "csrf_token": csrf_token(page.text)}
    if trust_device:
        data["trust_device"] = "1"
    return http.post("/login/mfa", data=data)


def lock_seconds(app: Flask, user: MadeUser, frozen_clock) -> int:
    with app.app_context():
        until = db.session.get(User, user.id).locked_until
    return int((clock.as_utc(until) - frozen_clock.current).total_seconds())


def has_session_cookie(response: TestResponse) -> bool:
    return any(c.startswith("idp_sso=") for c in response.headers.getlist("Set-Cookie"))


def events(app: Flask, event_type: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type))
        )


@pytest.fixture
def user(app: Flask) -> MadeUser:
    return make_user(app)


# --- the happy paths ---------------------------------------------------------------------------


def test_password_then_authenticator_code_signs_in(app, client, user, frozen_clock):
    authenticator, _ = enrol_totp(app, user, frozen_clock.current)
    password_step(client, user)
    assert client.get_cookie("idp_sso") is None

    page = client.get("/login/mfa")
    assert page.status_code == 200
    assert 'inputmode="numeric"' in page.text
    assert 'autocomplete="one-time-code"' in page.text
    assert page.text.count('name="trust_device"') == 2  # the app form and the backup-code form
    assert user.email in page.text

    response = submit(client, authenticator.at(frozen_clock.current))
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert has_session_cookie(response)
    assert [e.status for e in events(app, "login.totp")] == ["success"]


def test_password_alone_does_not_sign_in_a_user_with_totp(app, client, user, frozen_clock):
    enrol_totp(app, user, frozen_clock.current)
    response = password_step(client, user)
    assert not has_session_cookie(response)
    assert client.get("/account/v1/mfa").status_code == 401


def test_backup_code_signs_in_once(app, client, user, frozen_clock):
    _, codes = enrol_totp(app, user, frozen_clock.current)
    password_step(client, user)
    typed = "  " + codes[3].upper().replace("-", " - ") + " "  # case, dashes, spaces ignored
    response = submit(client, typed, method="backup_code")
    assert response.status_code == 303 and has_session_cookie(response)

    other = app.test_client()
    password_step(other, user)
    response = submit(other, codes[3], method="backup_code")
    assert response.status_code == 200
    assert BACKUP_ERROR in response.text
    assert not has_session_cookie(response)
    response = submit(other, codes[4], method="backup_code")
    assert response.status_code == 303 and has_session_cookie(response)


@pytest.mark.parametrize("code", ["", "123", "abcdefghij", "xxxxx-xxxxx", "0" * 64, "😀" * 10])
def test_malformed_backup_codes_are_refused(app, client, user, frozen_clock, code):
    enrol_totp(app, user, frozen_clock.current)
    password_step(client, user)
    response = submit(client, code, method="backup_code")
    assert response.status_code == 200 and BACKUP_ERROR in response.text


def test_id_token_says_two_factors_were_used(app, client, user, frozen_clock):
    authenticator, _ = enrol_totp(app, user, frozen_clock.current)
    rp = make_client(app, skip_consent=True)
    params, verifier = authorization_params(rp)
    response = client.get("/authorize?" + urlencode(params))
    login = response.headers["Location"]
    assert urlsplit(login).path == "/login"

    password_step(client, user, url=login)
    response = submit(client, authenticator.at(frozen_clock.current))
    assert response.status_code == 303
    for _ in range(4):  # resume the authorization request
        location = response.headers["Location"]
        if location.startswith(rp.redirect_uri):
            break
        response = client.get(location)
    redirect = query(response.headers["Location"])
    assert redirect["state"] == params["state"]

    tokens = exchange(client, rp, redirect["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    claims = decode_jwt_payload(tokens.json["id_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "2"


def decode_jwt_payload(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# --- replay and drift --------------------------------------------------------------------------


def test_a_code_works_only_once(app, user, frozen_clock):
    authenticator, _ = enrol_totp(app, user, frozen_clock.current)
    code = authenticator.at(frozen_clock.current)
    first = app.test_client()
    password_step(first, user)
    assert submit(first, code).status_code == 303

    second = app.test_client()
    password_step(second, user)
    replayed = submit(second, code)
    assert replayed.status_code == 200 and TOTP_ERROR in replayed.text
    assert not has_session_cookie(replayed)

    frozen_clock.advance(seconds=30)
    assert submit(second, authenticator.at(frozen_clock.current)).status_code == 303


def test_an_older_code_is_refused_after_a_newer_one(app, user, frozen_clock):
    authenticator, _ = enrol_totp(app, user, frozen_clock.current)
    first = app.test_client()
    password_step(first, user)
    assert (
        submit(first, authenticator.at(frozen_clock.current, counter_offset=1)).status_code == 303
    )
    second = app.test_client()
    password_step(second, user)
    assert TOTP_ERROR in submit(second, authenticator.at(frozen_clock.current)).text


@pytest.mark.parametrize(("offset", "accepted"), [(-1, True), (1, True), (-2, False), (2, False)])
def test_one_step_of_clock_drift_is_accepted(app, client, user, frozen_clock, offset, accepted):
    authenticator, _ = enrol_totp(app, user, frozen_clock.current)
    frozen_clock.advance(seconds=120)  # the enrolment's step is well behind
    password_step(client, user)
    response = submit(client, authenticator.at(frozen_clock.current, counter_offset=offset))
    assert (response.status_code == 303) is accepted
    assert (TOTP_ERROR in response.text) is not accepted


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "１２３４５６", "1" * 5000])
def test_malformed_codes_are_refused(app, client, user, frozen_clock, code):
    enrol_totp(app, user, frozen_clock.current)
    password_step(client, user)
    response = submit(client, code)
    assert response.status_code == 200 and TOTP_ERROR in response.text


def test_unknown_method_is_a_clear_400(app, client, user, frozen_clock):
    enrol_totp(app, user, frozen_clock.current)
    password_step(client, user)
    response = submit(client, "123456", method="sms")
    assert response.status_code == 400


# --- lockout -----------------------------------------------------------------------------------


def test_lockout_after_threshold_failures_and_its_expiry(app, client, user, frozen_clock):
    for _ in range(4):
        response = sign_in(client, "/login", user.email, "wrong password!")
        assert response.status_code == 200 and GENERIC_ERROR in response.text
    response = sign_in(client, "/login", user.email, "wrong password!")
    assert response.status_code == 429 and LOCKED in response.text
    assert lock_seconds(app, user, frozen_clock) == 60

    # Locked: the right password is refused too, with the try-again-later message.
    response = sign_in(client, "/login", user.email, user.password)
    assert response.status_code == 429 and LOCKED in response.text
    assert "try again in 1 minute." in response.text
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert not has_session_cookie(response)

    frozen_clock.advance(seconds=61)
    response = sign_in(client, "/login", user.email, user.password)
    assert response.status_code == 303 and has_session_cookie(response)

    (locked,) = events(app, "user.locked")
    assert locked.details["step"] == "password"
    assert locked.user_id == user.id


def test_each_further_failure_doubles_the_lock_up_to_the_cap(app, client, user, frozen_clock):
    for _ in range(5):
        sign_in(client, "/login", user.email, "wrong password!")
    expected = [120, 240, 480, 960, 1920, 3600, 3600]
    for seconds in expected:
        frozen_clock.advance(seconds=3601)  # the previous lock is over
        limiter.reset()  # the per-IP login rate limit counts wall-clock minutes
        response = sign_in(client, "/login", user.email, "wrong password!")
        assert LOCKED in response.text
        assert lock_seconds(app, user, frozen_clock) == seconds
    with app.app_context():
        assert db.session.get(User, user.id).failed_login_count == 12


def test_success_resets_the_count(app, client, user, frozen_clock):
    for _ in range(4):
        sign_in(client, "/login", user.email, "wrong password!")
    assert sign_in(client, "/login", user.email, user.password).status_code == 303
    for _ in range(4):
        response = sign_in(client, "/login", user.email, "wrong password!")
        assert response.status_code == 200 and GENERIC_ERROR in response.text


def test_while_locked_the_password_is_not_checked_but_the_time_is_spent(
    app, client, user, frozen_clock, monkeypatch
):
    for _ in range(5):
        sign_in(client, "/login", user.email, "wrong password!")
    checked: list[str | None] = []
    real = security.verify_password

    def spy(password: str, stored_hash: str | None) -> bool:
        checked.append(stored_hash)
        return real(password, stored_hash)

    monkeypatch.setattr(security, "verify_password", spy)
    response = sign_in(client, "/login", user.email, user.password)
    assert response.status_code == 429 and LOCKED in response.text
    assert checked == [None]  # one Argon2 run against the dummy hash, never the real one


def test_second_factor_failures_count_and_abandon_the_sign_in(app, client, user, frozen_clock):
    authenticator, _ = enrol_totp(app, user, frozen_clock.current)
    wrong = authenticator.at(frozen_clock.current, counter_offset=5)
    password_step(client, user)
    for _ in range(4):
        response = submit(client, wrong)
        assert response.status_code == 200 and TOTP_ERROR in response.text
    response = submit(client, wrong)
    assert response.status_code == 429 and LOCKED in response.text
    assert "/login" in response.text  # a way back

    # The parked sign-in is gone, and the right password is refused while locked.
    assert client.get("/login/mfa").headers["Location"].startswith("/login")
    response = sign_in(client, "/login", user.email, user.password)
    assert response.status_code == 429 and LOCKED in response.text
    (locked,) = events(app, "user.locked")
    assert locked.details["step"] == "totp"

    frozen_clock.advance(seconds=61)
    password_step(client, user)
    response = submit(client, authenticator.at(frozen_clock.current))
    assert response.status_code == 303 and has_session_cookie(response)
    with app.app_context():
        row = db.session.get(User, user.id)
        assert row.failed_login_count == 0 and row.locked_until is None


def test_password_and_second_factor_failures_add_up(app, client, user, frozen_clock):
    _, codes = enrol_totp(app, user, frozen_clock.current)
    for _ in range(2):
        sign_in(client, "/login", user.email, "wrong password!")
    password_step(client, user)  # a right password does not reset a count a 2nd factor owes
    for _ in range(2):
        assert BACKUP_ERROR in submit(client, "aaaaa-aaaaa", method="backup_code").text
    response = submit(client, "bbbbb-bbbbb", method="backup_code")
    assert response.status_code == 429 and LOCKED in response.text
    # Locked: even a valid backup code is not looked at (and stays unused).
    response = sign_in(client, "/login", user.email, user.password)
    assert response.status_code == 429 and LOCKED in response.text
    frozen_clock.advance(seconds=61)
    password_step(client, user)
    assert submit(client, codes[0], method="backup_code").status_code == 303


def test_a_sign_in_parked_before_the_lock_cannot_finish_during_it(app, user, frozen_clock):
    authenticator, _ = enrol_totp(app, user, frozen_clock.current)
    victim = app.test_client()
    password_step(victim, user)
    attacker = app.test_client()
    for _ in range(5):
        sign_in(attacker, "/login", user.email, "wrong password!")
    response = submit(victim, authenticator.at(frozen_clock.current))
    assert (
        response.status_code == 429 and LOCKED in response.text and not has_session_cookie(response)
    )


# --- the parked sign-in ------------------------------------------------------------------------


def test_no_pending_sign_in_goes_back_to_login(client):
    response = client.get("/login/mfa")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    page = client.get("/login")
    response = client.post(
        "/login/mfa", data={"code": "123456", "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/login"


def test_pending_sign_in_expires(app, client, user, frozen_clock):
    authenticator, _ = enrol_totp(app, user, frozen_clock.current)
    rp = make_client(app, skip_consent=True)
    params, _ = authorization_params(rp)
    login = client.get("/authorize?" + urlencode(params)).headers["Location"]
    password_step(client, user, url=login)
    page = client.get("/login/mfa")
    frozen_clock.advance(seconds=301)
    response = client.post(
        "/login/mfa",
        data={
            "code": authenticator.at(frozen_clock.current),
            "csrf_token": csrf_token(page.text),
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == login  # back to the same authorization request
    assert not has_session_cookie(response)
    assert client.get("/login/mfa").headers["Location"] == "/login"


def test_cancel_forgets_the_pending_sign_in(app, client, user, frozen_clock):
    enrol_totp(app, user, frozen_clock.current)
    password_step(client, user)
    page = client.get("/login/mfa")
    assert "Cancel and sign in as someone else" in page.text
    response = client.post("/login/mfa/cancel", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert client.get("/login/mfa").headers["Location"] == "/login"


def test_mfa_post_without_csrf_token_is_refused(app, client, user, frozen_clock):
    authenticator, _ = enrol_totp(app, user, frozen_clock.current)
    password_step(client, user)
    response = client.post("/login/mfa", data={"code": authenticator.at(frozen_clock.current)})
    assert response.status_code == 400
    assert not has_session_cookie(response)
    response = client.post("/login/mfa/cancel")
    assert response.status_code == 400


def test_mfa_posts_are_rate_limited_per_ip(app, client, user, frozen_clock):
    enrol_totp(app, user, frozen_clock.current)
    password_step(client, user)
    token = csrf_token(client.get("/login/mfa").text)
    for _ in range(10):  # the login limit (10/minute); an unknown method costs no lockout
        data = {"method": "nope", "code": "1", "csrf_token": token}
        assert client.post("/login/mfa", data=data).status_code == 400
    response = client.post("/login/mfa", data={"code": "1", "csrf_token": token})
    assert response.status_code == 429
    assert LOCKED not in response.text


def test_a_reset_second_factor_sends_the_parked_sign_in_back(app, client, user, frozen_clock):
    enrol_totp(app, user, frozen_clock.current)
    password_step(client, user)
    with app.app_context():  # an administrator resets the user's MFA meanwhile
        db.session.execute(delete(TotpCredential))
        db.session.execute(delete(BackupCode))
        db.session.commit()
    response = client.get("/login/mfa")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert password_step_without_mfa(client, user)


def password_step_without_mfa(http: FlaskClient, user: MadeUser) -> bool:
    response = sign_in(http, "/login", user.email, user.password)
    return response.status_code == 303 and has_session_cookie(response)
