"""/account/v1/profile and the /account page: read, edit, and change the e-mail address only
through re-verification of the new one (code or link), with a notice to the old one."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import User
from tests.accounts import account_token
from tests.accounts import csrf_header
from tests.accounts import signed_in
from tests.factories import make_user
from tests.flow import csrf_token
from tests.mailbox import mailbox_fixture  # noqa: F401 - the `mailbox` fixture

URL = "/account/v1/profile"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def load(app, user_id: str) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def events(app, event_type: str) -> list[AuditEvent]:
    with app.app_context():
        found = list(db.session.scalars(db.select(AuditEvent).filter_by(event_type=event_type)))
        for event in found:
            db.session.expunge(event)
        return found


def test_get_profile_with_an_account_token(app, client):
    user = make_user(app, name="Alice Example")
    token = account_token(app, client, user)

    response = client.get(URL, headers=bearer(token))

    assert response.status_code == 200
    body = response.json
    assert body["id"] == user.id and body["email"] == user.email
    assert body["email_verified"] is True and body["pending_email"] is None
    assert body["has_password"] is True and body["name"] == "Alice Example"
    assert "password_hash" not in body


def test_profile_needs_a_token_with_the_account_scope(app, client):
    user = make_user(app)
    assert client.get(URL).status_code == 401
    token = account_token(app, client, user, scope="profile")
    response = client.get(URL, headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_patch_changes_names_and_is_audited(app, client):
    user = make_user(app)
    token = account_token(app, client, user)

    response = client.patch(
        URL,
        json={"given_name": "Alice", "family_name": "Liddell", "locale": "en-GB",
              "zoneinfo": "Europe/London", "picture": "https://cdn.example.com/a.png"},
        headers=bearer(token),
    )  # fmt: skip

    assert response.status_code == 200, response.text
    assert response.json["given_name"] == "Alice" and response.json["locale"] == "en-GB"
    stored = load(app, user.id)
    assert stored.family_name == "Liddell" and stored.zoneinfo == "Europe/London"
    (event,) = events(app, "user.profile_updated")
    assert event.actor_type == "user" and event.actor_id == user.id
    assert event.details["fields"] == ["family_name", "given_name", "locale", "picture", "zoneinfo"]

    cleared = client.patch(URL, json={"picture": None}, headers=bearer(token))
    assert cleared.status_code == 200 and cleared.json["picture"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password_hash": "x"}, "password_hash"),
        ({"email_verified": True}, "email_verified"),
        ({"roles": ["admin"]}, "roles"),
        ({"name": "x" * 201}, "name"),
        ({"name": 12}, "name"),
        ({"picture": "javascript:alert(1)"}, "picture"),
        ({"locale": "not a locale"}, "locale"),
        ({"zoneinfo": "Mars/Olympus"}, "zoneinfo"),
        ({"email": "not-an-address"}, "email"),
        ({"given_name": "a\nb"}, "given_name"),
    ],
)
def test_patch_refuses_bad_or_unknown_fields_per_field(app, client, body, field):
    user = make_user(app)
    token = account_token(app, client, user)

    response = client.patch(URL, json=body, headers=bearer(token))

    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert field in response.json["errors"]


def test_huge_body_is_a_4xx(app, client):
    user = make_user(app)
    token = account_token(app, client, user)
    response = client.patch(URL, json={"name": "x" * 2_000_000}, headers=bearer(token))
    assert response.status_code in (413, 422)


def test_cookie_writes_need_the_csrf_header(app, client):
    user = make_user(app)
    signed_in(client, user)
    assert client.patch(URL, json={"name": "Eve"}).status_code == 400
    response = client.patch(URL, json={"name": "Eve"}, headers=csrf_header(client))
    assert response.status_code == 200 and response.json["name"] == "Eve"


# --- e-mail change ---------------------------------------------------------------------------


def test_email_change_waits_for_the_code_then_notifies_the_old_address(app, client, mailbox):
    user = make_user(app, email="old@example.com")
    token = account_token(app, client, user)

    started = client.patch(URL, json={"email": "New@Example.com"}, headers=bearer(token))

    assert started.status_code == 202, started.text
    assert started.json["email"] == "old@example.com"
    assert started.json["pending_email"] == "New@Example.com"
    assert load(app, user.id).email == "old@example.com"
    mailed = mailbox.wait_for("New@Example.com")
    assert "new e-mail address" in mailed.subject.lower()

    confirmed = client.post(
        f"{URL}/email/verify", json={"code": mailed.code}, headers=bearer(token)
    )

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json["email"] == "New@Example.com" and confirmed.json["pending_email"] is None
    stored = load(app, user.id)
    assert stored.email_normalized == "new@example.com" and stored.email_verified is True
    notice = mailbox.wait_for("old@example.com")
    assert "New@Example.com" in notice.text and "changed" in notice.subject
    (event,) = events(app, "user.email_changed")
    assert event.details["previous_email"] == "old@example.com"
    again = client.post(f"{URL}/email/verify", json={"code": mailed.code}, headers=bearer(token))
    assert again.status_code == 409


def test_email_change_by_link(app, client, mailbox):
    user = make_user(app, email="old@example.com")
    token = account_token(app, client, user)
    client.patch(URL, json={"email": "new@example.com"}, headers=bearer(token))
    link = mailbox.wait_for("new@example.com").link("/verify-email")
    path = link.removeprefix("http://localhost")

    page = client.get(path)
    assert page.status_code == 200 and "new@example.com" in page.text
    assert load(app, user.id).email == "old@example.com"  # GET changes nothing
    done = client.post(path, data={"csrf_token": csrf_token(page.text)})

    assert done.status_code == 200 and "verified" in done.text
    assert load(app, user.id).email == "new@example.com"
    mailbox.wait_for("old@example.com")
    reused = client.get(path)
    assert reused.status_code == 410 and "already been used" in reused.text


def test_email_change_to_a_taken_address_is_a_conflict_at_start_and_at_the_end(
    app, client, mailbox
):
    user = make_user(app, email="old@example.com")
    make_user(app, email="taken@example.com")
    token = account_token(app, client, user)

    assert (
        client.patch(URL, json={"email": "TAKEN@example.com"}, headers=bearer(token)).status_code
        == 409
    )

    client.patch(URL, json={"email": "late@example.com"}, headers=bearer(token))
    code = mailbox.wait_for("late@example.com").code
    make_user(app, email="late@example.com")  # someone takes it meanwhile
    response = client.post(f"{URL}/email/verify", json={"code": code}, headers=bearer(token))

    assert response.status_code == 409
    assert load(app, user.id).email == "old@example.com"


def test_wrong_codes_are_counted_and_kill_the_code(app, client, mailbox):
    user = make_user(app)
    token = account_token(app, client, user)
    client.patch(URL, json={"email": "new@example.com"}, headers=bearer(token))
    code = mailbox.wait_for("new@example.com").code
    wrong = "000000" if code != "000000" else "999999"
    verify = f"{URL}/email/verify"

    first = client.post(verify, json={"code": wrong}, headers=bearer(token))
    assert first.status_code == 422 and "code" in first.json["errors"]
    for _ in range(4):
        last = client.post(verify, json={"code": wrong}, headers=bearer(token))
    assert "Too many" in last.json["errors"]["code"][0]
    dead = client.post(verify, json={"code": code}, headers=bearer(token))
    assert dead.status_code == 422
    assert load(app, user.id).email == user.email
    assert len(events(app, "change_email.code_failed")) == 5


def test_email_code_expires_after_five_minutes(app, client, mailbox, frozen_clock):
    user = make_user(app)
    token = account_token(app, client, user)
    client.patch(URL, json={"email": "new@example.com"}, headers=bearer(token))
    code = mailbox.wait_for("new@example.com").code

    frozen_clock.advance(minutes=5, seconds=1)
    response = client.post(f"{URL}/email/verify", json={"code": code}, headers=bearer(token))

    assert response.status_code == 422 and "expired" in response.json["errors"]["code"][0]


def test_a_new_change_request_supersedes_the_previous_one(app, client, mailbox):
    user = make_user(app)
    token = account_token(app, client, user)
    client.patch(URL, json={"email": "first@example.com"}, headers=bearer(token))
    first_link = mailbox.wait_for("first@example.com").link("/verify-email")
    second = client.patch(URL, json={"email": "second@example.com"}, headers=bearer(token))
    assert second.json["pending_email"] == "second@example.com"

    assert client.get(first_link.removeprefix("http://localhost")).status_code == 410


@pytest.mark.parametrize("body", [{}, {"code": "12345"}, {"code": "abcdef"}, {"code": "1", "x": 1}])
def test_verify_refuses_malformed_bodies(app, client, body):
    user = make_user(app)
    token = account_token(app, client, user)
    response = client.post(f"{URL}/email/verify", json=body, headers=bearer(token))
    assert response.status_code == 422


# --- the hosted page -------------------------------------------------------------------------


def test_profile_page_needs_sign_in(client):
    response = client.get("/account")
    assert response.status_code == 303 and "/login" in response.headers["Location"]


def test_profile_page_saves_names_and_changes_email_with_the_code(app, client, mailbox):
    user = make_user(app, email="old@example.com")
    signed_in(client, user)
    page = client.get("/account")
    assert page.status_code == 200 and "old@example.com" in page.text
    token = csrf_token(page.text)

    saved = client.post(
        "/account",
        data={"action": "profile", "name": "Alice L.", "given_name": "Alice", "family_name": "",
              "nickname": "", "picture": "", "locale": "fr", "zoneinfo": "", "csrf_token": token},
    )  # fmt: skip
    assert saved.status_code == 303
    assert "Your profile is saved." in client.get("/account").text
    stored = load(app, user.id)
    assert stored.name == "Alice L." and stored.locale == "fr" and stored.family_name is None

    client.post("/account", data={"action": "change_email", "email": "new@example.com",
                                  "csrf_token": token})  # fmt: skip
    page = client.get("/account")
    assert "We sent a code" in page.text and 'autocomplete="one-time-code"' in page.text
    code = mailbox.wait_for("new@example.com").code
    bad = "000000" if code != "000000" else "111111"
    wrong = client.post(
        "/account", data={"action": "confirm_email", "code": bad, "csrf_token": token}
    )
    assert wrong.status_code == 422 and "not right" in wrong.text
    done = client.post(
        "/account", data={"action": "confirm_email", "code": code, "csrf_token": token}
    )
    assert done.status_code == 303
    assert "Your e-mail address is now new@example.com." in client.get("/account").text
    mailbox.wait_for("old@example.com")


def test_profile_page_verifies_the_current_address(app, client, mailbox):
    user = make_user(app, email_verified=False)
    signed_in(client, user)
    token = csrf_token(client.get("/account").text)

    client.post("/account", data={"action": "send_verification", "csrf_token": token})
    code = mailbox.wait_for(user.email).code
    done = client.post(
        "/account", data={"action": "confirm_verification", "code": code, "csrf_token": token}
    )

    assert done.status_code == 303
    assert load(app, user.id).email_verified is True


def test_profile_page_cancels_a_pending_change(app, client, mailbox):
    user = make_user(app)
    signed_in(client, user)
    token = csrf_token(client.get("/account").text)
    client.post("/account", data={"action": "change_email", "email": "new@example.com",
                                  "csrf_token": token})  # fmt: skip
    link = mailbox.wait_for("new@example.com").link("/verify-email")

    client.post("/account", data={"action": "cancel_email", "csrf_token": token})

    assert "Your address changes once" not in client.get("/account").text
    assert client.get(link.removeprefix("http://localhost")).status_code == 410


@pytest.mark.parametrize("action", ["profile", "change_email", "confirm_email", "cancel_email"])
def test_profile_page_forms_need_the_csrf_token(app, client, action):
    user = make_user(app)
    signed_in(client, user)
    response = client.post("/account", data={"action": action, "name": "Eve"})
    assert response.status_code == 400
    assert load(app, user.id).name != "Eve"


def test_profile_page_shows_field_errors(app, client):
    user = make_user(app)
    signed_in(client, user)
    token = csrf_token(client.get("/account").text)
    response = client.post(
        "/account", data={"action": "profile", "zoneinfo": "Nowhere/Land", "csrf_token": token}
    )
    assert response.status_code == 422 and "time zone" in response.text
    assert 'aria-invalid="true"' in response.text
