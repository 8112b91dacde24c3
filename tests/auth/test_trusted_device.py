"""Trusted devices in sign-in: "don't ask again on this device" on the second-factor page
skips the second factor at this browser's next sign-ins (password and lockout still apply),
until trusted_until, a device revocation, or for another user."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import BrowserSession
from idp.models import User
from idp.services import audit
from idp.services import totp
from tests.accounts import csrf_header
from tests.factories import MadeUser
from tests.factories import make_api_key
from tests.factories import make_user
from tests.flow import csrf_token
from tests.flow import sign_in

DEVICES = "/account/v1/devices"
USERS = "/management/v1/users"


def enrol_totp(app: Flask, user: MadeUser, now) -> pyotp.TOTP:
    """An enabled authenticator app, confirmed with the previous step's code so that the
    current step's code is still unused."""
    with app.app_context():
        row = db.session.get(User, user.id)
        setup = totp.begin_setup(row, issuer_name="Test", actor=audit.SYSTEM)
        authenticator = pyotp.TOTP(setup.secret)
        totp.confirm(row, authenticator.at(now - timedelta(seconds=30)), actor=audit.SYSTEM)
        db.session.commit()
    return authenticator


def password_step(http: FlaskClient, user: MadeUser) -> TestResponse:
    response = sign_in(http, "/login", user.email, user.password)
    assert response.status_code == 303, response.text
    return response


def second_step(http: FlaskClient, code: str, *, trust_device: bool) -> TestResponse:
    page = http.get("/login/mfa")
    assert page.status_code == 200, page.text
    data = {"method": "totp", "code": code, "csrf_token": csrf_token(page.text)}
    if trust_device:
        data["trust_device"] = "1"
    response = http.post("/login/mfa", data=data)
    assert response.status_code == 303, response.text
    return response


def sign_out(http: FlaskClient) -> None:
    response = http.post("/logout", data={"csrf_token": csrf_token(http.get("/").text)})
    assert response.status_code == 200, response.text
    assert http.get(DEVICES).status_code == 401


def asks_second_factor(response: TestResponse) -> bool:
    return response.headers["Location"] == "/login/mfa"


def device_cookie(response: TestResponse) -> str | None:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("idp_device=")]
    return cookies[0] if cookies else None


def trusted_rows(app: Flask, user: MadeUser) -> list[BrowserSession]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(BrowserSession).where(
                    BrowserSession.user_id == user.id, BrowserSession.trusted.is_(True)
                )
            )
        )


def trusted_sign_in(app: Flask, user: MadeUser, frozen_clock) -> tuple[FlaskClient, pyotp.TOTP]:
    """A browser where `user` passed the second factor with "don't ask again" ticked."""
    authenticator = enrol_totp(app, user, frozen_clock.current)
    http = app.test_client()
    assert asks_second_factor(password_step(http, user))
    finished = second_step(http, authenticator.at(frozen_clock.current), trust_device=True)
    cookie = device_cookie(finished)
    assert cookie is not None
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert f"Max-Age={30 * 24 * 3600}" in cookie
    return http, authenticator


def test_a_trusted_browser_skips_the_second_factor_after_signing_out(app, frozen_clock):
    user = make_user(app)
    http, _ = trusted_sign_in(app, user, frozen_clock)
    sign_out(http)  # a plain sign-out keeps the trust
    frozen_clock.advance(days=3)

    response = password_step(http, user)

    assert response.headers["Location"] == "/"  # straight in, no /login/mfa
    assert http.get(DEVICES).status_code == 200
    with app.app_context():
        skipped = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "mfa.skipped")
        ).all()
        assert len(skipped) == 1 and skipped[0].details["reason"] == "trusted_device"
        session = db.session.scalars(
            select(BrowserSession).where(BrowserSession.revoked_at.is_(None))
        ).one()
        assert session.amr == ["pwd"] and session.acr == "1"  # honest: one factor this time


def test_the_new_session_inherits_the_devices_trust_and_name(app, frozen_clock):
    user = make_user(app)
    http, _ = trusted_sign_in(app, user, frozen_clock)
    (first,) = trusted_rows(app, user)
    renamed = http.patch(
        f"{DEVICES}/{first.id}", json={"name": "Home laptop"}, headers=csrf_header(http)
    )
    assert renamed.status_code == 200
    sign_out(http)

    password_step(http, user)

    (device,) = http.get(DEVICES).get_json()["items"]  # one device, not two
    assert device["id"] != first.id and device["current"] is True
    assert device["name"] == "Home laptop" and device["trusted"] is True
    (row,) = trusted_rows(app, user)  # the old row let go of the trust
    assert row.id == device["id"]
    assert row.trusted_until == first.trusted_until  # not extended by signing in
    assert row.device_token_hash == first.device_token_hash


def test_the_second_factor_is_asked_again_after_trusted_until(app, frozen_clock):
    user = make_user(app)
    http, authenticator = trusted_sign_in(app, user, frozen_clock)
    sign_out(http)
    frozen_clock.advance(days=30, seconds=1)

    response = password_step(http, user)

    assert asks_second_factor(response)
    second_step(http, authenticator.at(frozen_clock.current), trust_device=False)
    assert http.get(DEVICES).status_code == 200


def test_a_revoked_device_is_asked_again(app, frozen_clock):
    user = make_user(app)
    http, authenticator = trusted_sign_in(app, user, frozen_clock)
    own = http.get(DEVICES).get_json()["items"][0]
    revoked = http.delete(f"{DEVICES}/{own['id']}", headers=csrf_header(http))
    assert revoked.status_code == 204
    assert trusted_rows(app, user) == []
    frozen_clock.advance(seconds=30)

    assert asks_second_factor(password_step(http, user))


def test_the_device_cookie_alone_survives_a_revocation_but_proves_nothing(app, frozen_clock):
    """Revoked from another browser: this browser keeps its cookie, which no longer works."""
    user = make_user(app)
    http, authenticator = trusted_sign_in(app, user, frozen_clock)
    (device,) = trusted_rows(app, user)
    sign_out(http)
    frozen_clock.advance(seconds=30)
    other = app.test_client()
    password_step(other, user)
    second_step(other, authenticator.at(frozen_clock.current), trust_device=False)
    listed = {d["id"]: d for d in other.get(DEVICES).get_json()["items"]}
    assert listed[device.id]["signed_in"] is False and listed[device.id]["trusted"] is True
    assert other.delete(f"{DEVICES}/{device.id}", headers=csrf_header(other)).status_code == 204

    assert asks_second_factor(password_step(http, user))


def test_another_user_on_the_same_browser_is_still_asked(app, frozen_clock):
    alice = make_user(app)
    bob = make_user(app, "bob@example.com")
    enrol_totp(app, bob, frozen_clock.current)
    http, _ = trusted_sign_in(app, alice, frozen_clock)
    sign_out(http)

    assert asks_second_factor(password_step(http, bob))


def test_without_ticking_the_box_nothing_is_trusted(app, frozen_clock):
    user = make_user(app)
    authenticator = enrol_totp(app, user, frozen_clock.current)
    http = app.test_client()
    password_step(http, user)
    finished = second_step(http, authenticator.at(frozen_clock.current), trust_device=False)
    assert device_cookie(finished) is None
    assert trusted_rows(app, user) == []
    sign_out(http)
    frozen_clock.advance(seconds=30)

    assert asks_second_factor(password_step(http, user))


def test_the_password_step_and_its_lockout_still_apply(app, frozen_clock):
    user = make_user(app)
    http, _ = trusted_sign_in(app, user, frozen_clock)
    sign_out(http)

    wrong = sign_in(http, "/login", user.email, "not the password")
    assert wrong.status_code == 200 and http.get(DEVICES).status_code == 401
    with app.app_context():
        assert db.session.get(User, user.id).failed_login_count == 1

    password_step(http, user)  # the trusted sign-in completes, so the count starts over
    with app.app_context():
        assert db.session.get(User, user.id).failed_login_count == 0


def test_a_forged_device_cookie_is_ignored(app, frozen_clock):
    user = make_user(app)
    enrol_totp(app, user, frozen_clock.current)
    http = app.test_client()
    http.set_cookie("idp_device", "forged-token")

    assert asks_second_factor(password_step(http, user))


@pytest.mark.parametrize(
    "everywhere",
    [
        pytest.param(
            lambda admin, user_id: admin.delete(f"{USERS}/{user_id}/sessions"), id="admin"
        ),
        pytest.param(
            lambda admin, user_id: (
                admin.post(f"{USERS}/{user_id}/block", json={"reason": "x"})
                and admin.post(f"{USERS}/{user_id}/unblock")
            ),
            id="block",
        ),
    ],
)
def test_signing_the_user_out_everywhere_forgets_trusted_devices(app, frozen_clock, everywhere):
    user = make_user(app)
    http, _ = trusted_sign_in(app, user, frozen_clock)
    admin = AdminClient(app.test_client(), make_api_key(app, "*"))

    response = everywhere(admin, user.id)

    assert response.status_code == 200, response.text
    assert trusted_rows(app, user) == []
    frozen_clock.advance(seconds=30)
    assert asks_second_factor(password_step(http, user))


def test_an_admin_mfa_reset_forgets_trusted_devices(app, frozen_clock):
    user = make_user(app)
    http, _ = trusted_sign_in(app, user, frozen_clock)
    admin = AdminClient(app.test_client(), make_api_key(app, "*"))

    assert admin.delete(f"{USERS}/{user.id}/mfa").status_code == 200
    enrol_totp(app, user, frozen_clock.current + timedelta(seconds=60))  # a new phone
    frozen_clock.advance(seconds=90)

    assert trusted_rows(app, user) == []
    assert asks_second_factor(password_step(http, user))


class AdminClient:
    """The management API with an API key."""

    def __init__(self, http: FlaskClient, key: str) -> None:
        self.http, self.headers = http, {"Authorization": f"Bearer {key}"}

    def delete(self, path: str) -> TestResponse:
        return self.http.delete(path, headers=self.headers)

    def post(self, path: str, **kwargs: object) -> TestResponse:
        return self.http.post(path, headers=self.headers, **kwargs)
