"""/account/v1/password and /account/password: change (current password required, other
sessions end, this one stays), set when the account has none, the policy's field messages."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import User
from tests.accounts import account_token
from tests.accounts import csrf_header
from tests.accounts import signed_in
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorize
from tests.flow import csrf_token
from tests.flow import exchange
from tests.flow import refresh
from tests.flow import sign_in

URL = "/account/v1/password"
NEW = "violet-anchor-meadow-17"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def load(app, user_id: str) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def event_types(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(db.select(AuditEvent.event_type)))


def test_change_with_the_current_password_keeps_this_session_and_ends_the_others(app):
    user = make_user(app)
    here = signed_in(app.test_client(), user)
    elsewhere = signed_in(app.test_client(), user)

    response = here.post(
        URL,
        json={"current_password": user.password, "new_password": NEW},
        headers=csrf_header(here),
    )

    assert response.status_code == 204, response.text
    assert "Signed in" in here.get("/").text
    assert "Signed in" not in elsewhere.get("/").text
    stored = load(app, user.id)
    assert stored.password_changed_at is not None
    assert "user.password_changed" in event_types(app)
    fresh = app.test_client()
    assert sign_in(fresh, "/login", user.email, user.password).status_code == 200  # old: no
    assert sign_in(fresh, "/login", user.email, NEW).status_code == 303


def test_change_with_a_token_keeps_the_calling_applications_session(app, client):
    user = make_user(app)
    rp = make_client(
        app,
        skip_consent=True,
        scopes=["openid", "account", "offline_access"],
        grant_types=["authorization_code", "refresh_token"],
    )
    token = account_token(app, client, user, client=rp)
    other = signed_in(app.test_client(), user)

    response = client.post(
        URL, json={"current_password": user.password, "new_password": NEW}, headers=bearer(token)
    )

    assert response.status_code == 204
    assert client.get("/account/v1/profile", headers=bearer(token)).status_code == 200
    assert "Signed in" not in other.get("/").text


def test_wrong_current_password_is_a_field_error_and_audited(app, client):
    user = make_user(app)
    token = account_token(app, client, user)

    response = client.post(
        URL, json={"current_password": "not my password", "new_password": NEW},
        headers=bearer(token),
    )  # fmt: skip

    assert response.status_code == 422
    assert "current_password" in response.json["errors"]
    assert load(app, user.id).password_changed_at is None
    with app.app_context():
        (event,) = db.session.scalars(
            db.select(AuditEvent).filter_by(event_type="user.password_changed")
        )
        assert event.status == "failure"


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"new_password": NEW}, "current_password", "current password"),
        ({"current_password": None, "new_password": NEW}, "current_password", ""),
        ({"current_password": "x", "new_password": "password123"}, "new_password", ""),
        ({"current_password": "x"}, "new_password", ""),
        ({"current_password": "x", "new_password": NEW, "extra": 1}, "extra", ""),
        ({"current_password": "x", "new_password": "y" * 5000}, "new_password", ""),
    ],
)
def test_bad_bodies_are_422_with_the_field(app, client, body, field, says):
    user = make_user(app)
    token = account_token(app, client, user)
    if body.get("current_password") == "x":
        body["current_password"] = user.password
    response = client.post(URL, json=body, headers=bearer(token))
    assert response.status_code == 422, response.text
    assert field in response.json["errors"]
    assert says in " ".join(response.json["errors"][field]).lower()


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("password123", "common password"),
        ("qwertyuiop", "common password"),
        ("alice@example.com", "e-mail address or name"),
        ("short", "at least 8"),
    ],
)
def test_weak_new_passwords_are_refused_with_a_reason(app, client, password, why):
    user = make_user(app)
    token = account_token(app, client, user)
    response = client.post(
        URL, json={"current_password": user.password, "new_password": password},
        headers=bearer(token),
    )  # fmt: skip
    assert response.status_code == 422
    assert why in response.json["errors"]["new_password"][0].lower()


def test_a_user_without_a_password_sets_one(app, client):
    user = make_user(app)
    token = account_token(app, client, user)
    with app.app_context():
        db.session.get(User, user.id).password_hash = None
        db.session.commit()
    assert client.get("/account/v1/profile", headers=bearer(token)).json["has_password"] is False

    response = client.post(URL, json={"new_password": NEW}, headers=bearer(token))

    assert response.status_code == 204
    assert client.get("/account/v1/profile", headers=bearer(token)).json["has_password"] is True
    assert "user.password_set" in event_types(app)
    assert sign_in(app.test_client(), "/login", user.email, NEW).status_code == 303


def test_other_sessions_lose_their_refresh_tokens(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True, grant_types=["authorization_code", "refresh_token"])
    other = app.test_client()
    auth = authorize(other, rp, user)
    tokens = exchange(other, rp, auth.code, auth.verifier).json
    here = signed_in(app.test_client(), user)

    here.post(
        URL,
        json={"current_password": user.password, "new_password": NEW},
        headers=csrf_header(here),
    )

    assert refresh(other, rp, tokens["refresh_token"]).status_code == 400


# --- the hosted page -------------------------------------------------------------------------


def test_password_page_changes_the_password(app, client):
    user = make_user(app)
    signed_in(client, user)
    page = client.get("/account/password")
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.text
    assert 'autocomplete="new-password"' in page.text

    done = client.post(
        "/account/password",
        data={"current_password": user.password, "new_password": NEW,
              "csrf_token": csrf_token(page.text)},
    )  # fmt: skip

    assert done.status_code == 303
    assert "Your password is changed." in client.get("/account/password").text


def test_password_page_shows_why_a_password_is_refused(app, client):
    user = make_user(app)
    signed_in(client, user)
    token = csrf_token(client.get("/account/password").text)

    weak = client.post(
        "/account/password",
        data={"current_password": user.password, "new_password": "password123",
              "csrf_token": token},
    )  # fmt: skip
    wrong = client.post(
        "/account/password",
        data={"current_password": "nope nope nope", "new_password": NEW, "csrf_token": token},
    )

    assert weak.status_code == 422 and "common password" in weak.text
    assert 'id="new_password-error"' in weak.text
    assert wrong.status_code == 422 and 'id="current_password-error"' in wrong.text
    huge = client.post(
        "/account/password",
        data={"current_password": user.password, "new_password": "x" * 100_000,
              "csrf_token": token},
    )  # fmt: skip
    assert huge.status_code == 422


def test_password_page_needs_csrf_and_sign_in(app, client):
    assert client.get("/account/password").status_code == 303
    user = make_user(app)
    signed_in(client, user)
    response = client.post(
        "/account/password", data={"current_password": user.password, "new_password": NEW}
    )
    assert response.status_code == 400
    assert load(app, user.id).password_changed_at is None


def test_password_page_offers_to_set_one_without_a_current_password(app, client):
    user = make_user(app)
    signed_in(client, user)
    with app.app_context():
        db.session.get(User, user.id).password_hash = None
        db.session.commit()
    page = client.get("/account/password")
    assert "Set a password" in page.text and 'name="current_password"' not in page.text
    done = client.post(
        "/account/password", data={"new_password": NEW, "csrf_token": csrf_token(page.text)}
    )
    assert done.status_code == 303 and load(app, user.id).password_hash is not None


def test_wrong_current_passwords_lock_the_account_like_sign_in(app, client):
    """A stolen token must not be a password oracle: wrong guesses count toward the lockout."""
    user = make_user(app)
    token = account_token(app, client, user)

    statuses = [
        client.post(
            URL, json={"current_password": f"guess {i}", "new_password": NEW},
            headers=bearer(token),
        ).status_code
        for i in range(5)
    ]  # fmt: skip
    right = client.post(
        URL, json={"current_password": user.password, "new_password": NEW}, headers=bearer(token)
    )

    assert statuses == [422] * 4 + [429]
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0
    assert right.headers["Content-Type"] == "application/problem+json"
    assert right.json["status"] == 429
    stored = load(app, user.id)
    assert stored.password_changed_at is None and stored.failed_login_count == 5
    locked = sign_in(app.test_client(), "/login", user.email, user.password)
    assert locked.status_code == 429


def test_password_page_answers_429_while_locked(app, client):
    user = make_user(app)
    signed_in(client, user)
    token = csrf_token(client.get("/account/password").text)

    def change(current: str):
        return client.post(
            "/account/password",
            data={"current_password": current, "new_password": NEW, "csrf_token": token},
        )

    statuses = [change(f"guess {i}").status_code for i in range(5)]
    right = change(user.password)

    assert statuses == [422] * 4 + [429]
    assert right.status_code == 429 and "Too many failed attempts" in right.text
    assert int(right.headers["Retry-After"]) > 0
    assert load(app, user.id).password_changed_at is None
    assert sign_in(app.test_client(), "/login", user.email, user.password).status_code == 429
