"""Adding a way into the account — a passkey, a new e-mail address, a first password — needs
a recent sign-in (RFC 9470 step-up: 401 insufficient_user_authentication with max_age), so a
stolen session cookie or access token alone cannot take the account over."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.models import User
from tests.accounts import account_token
from tests.accounts import csrf_header
from tests.accounts import signed_in
from tests.factories import make_user
from tests.flow import csrf_token
from tests.flow import sign_in

WINDOW_MINUTES = 10


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forget_password(app, user_id: str) -> None:
    """As for a user who signed up through an upstream provider."""
    with app.app_context():
        db.session.get(User, user_id).password_hash = None
        db.session.commit()


SENSITIVE = {
    "passkey options": ("post", "/account/v1/passkeys/registration-options", None),
    "new e-mail": ("patch", "/account/v1/profile", {"email": "new@example.com"}),
    "first password": (
        "post",
        "/account/v1/password",
        {"new_password": "an unusual passphrase 42"},
    ),
}


@pytest.mark.parametrize("name", SENSITIVE)
def test_a_stale_token_must_step_up(app, client, frozen_clock, name):
    user = make_user(app)
    token = account_token(app, client, user)
    forget_password(app, user.id)
    method, path, body = SENSITIVE[name]
    frozen_clock.advance(minutes=WINDOW_MINUTES, seconds=1)

    response = getattr(client, method)(path, json=body, headers=bearer(token))

    assert response.status_code == 401, response.text
    assert response.mimetype == "application/problem+json"
    assert response.json["type"] == "insufficient-user-authentication"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="account"')
    assert 'error="insufficient_user_authentication"' in challenge
    assert f"max_age={WINDOW_MINUTES * 60}" in challenge


@pytest.mark.parametrize("name", SENSITIVE)
def test_a_recent_token_may_proceed(app, client, frozen_clock, name):
    user = make_user(app)
    token = account_token(app, client, user)
    forget_password(app, user.id)
    method, path, body = SENSITIVE[name]
    frozen_clock.advance(minutes=WINDOW_MINUTES - 1)

    response = getattr(client, method)(path, json=body, headers=bearer(token))

    assert response.status_code in (200, 202, 204), response.text


def test_everyday_changes_need_no_step_up(app, client, frozen_clock):
    user = make_user(app)
    token = account_token(app, client, user)
    frozen_clock.advance(minutes=30)

    renamed = client.patch("/account/v1/profile", json={"name": "Al"}, headers=bearer(token))
    changed = client.post(
        "/account/v1/password",
        json={"current_password": user.password, "new_password": "an unusual passphrase 42"},
        headers=bearer(token),
    )

    assert renamed.status_code == 200
    assert changed.status_code == 204  # the current password is the proof


def test_a_stale_session_is_sent_to_sign_in_again_and_back(app, client, frozen_clock):
    user = make_user(app)
    signed_in(client, user)
    frozen_clock.advance(minutes=WINDOW_MINUTES + 1)

    page = client.get("/account/passkeys").text
    assert 'id="add-passkey-form"' not in page
    assert 'href="/login?next=/account/passkeys"' in page
    refused = client.post(
        "/account/passkeys", headers=csrf_header(client), data={"credential": "{}"}
    )
    assert refused.status_code == 303
    assert refused.headers["Location"] == "/login?next=/account/passkeys"

    login = client.get(refused.headers["Location"]).text
    assert 'id="reauthenticate-note"' in login
    assert f'value="{user.email}"' in login
    again = sign_in(client, refused.headers["Location"], user.email, user.password)

    assert again.status_code == 303
    assert again.headers["Location"] == "/account/passkeys"
    assert 'id="add-passkey-form"' in client.get("/account/passkeys").text


def test_a_stale_session_cannot_start_an_email_change(app, client, frozen_clock):
    user = make_user(app)
    signed_in(client, user)
    frozen_clock.advance(minutes=WINDOW_MINUTES + 1)

    api = client.patch(
        "/account/v1/profile", json={"email": "new@example.com"}, headers=csrf_header(client)
    )
    page = client.post(
        "/account",
        data={
            "action": "change_email",
            "email": "new@example.com",
            "csrf_token": csrf_token(client.get("/account").text),
        },
    )

    assert api.status_code == 401
    assert page.status_code == 303
    assert page.headers["Location"] == "/login?next=/account"
    assert client.get("/account/v1/profile").json["pending_email"] is None
