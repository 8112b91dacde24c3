"""Self-registration (/register, /register/verify): the tenant switch, the form's rules, no
account enumeration, verification by code that finishes the sign-in (and resumes an
authorization request), mail through a real SMTP server."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import User
from idp.services import tenants
from tests.factories import make_client
from tests.factories import make_tenant
from tests.factories import make_user
from tests.flow import authorization_params
from tests.flow import csrf_token
from tests.flow import query
from tests.mailbox import mailbox_fixture  # noqa: F401 - the `mailbox` fixture

PASSWORD = "plum-harbour-lantern-42"


def open_registration(app, slug: str = "default", enabled: bool = True) -> None:
    with app.app_context():
        tenants.update(tenants.get_by_slug(slug), registration_enabled=enabled)
        db.session.commit()


def register(client, email="new@example.com", password=PASSWORD, name="New Person", url=None):
    url = url or "/register"
    page = client.get(url)
    assert page.status_code == 200, page.text
    return client.post(
        url,
        data={
            "email": email,
            "password": password,
            "name": name,
            "csrf_token": csrf_token(page.text),
        },
    )


def submit_code(client, code: str, action: str = "verify"):
    page = client.get("/register/verify")
    return client.post(
        "/register/verify",
        data={"code": code, "action": action, "csrf_token": csrf_token(page.text)},
    )


def user_by_email(app, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email_normalized == email.lower()))
        if user is not None:
            db.session.expunge(user)
        return user


def test_registration_is_404_unless_the_tenant_enables_it(app, client):
    assert client.get("/register").status_code == 404
    assert client.post("/register", data={"email": "a@example.com"}).status_code in (400, 404)
    open_registration(app)
    assert client.get("/register").status_code == 200


def test_login_page_links_to_registration_only_when_enabled(app, client):
    page = client.get("/login").text
    assert "Forgot password?" in page and "Create an account" not in page
    open_registration(app)
    page = client.get("/login").text
    assert "Create an account" in page and 'href="/register"' in page


def test_register_then_code_from_the_mail_signs_in(app, client, mailbox):
    open_registration(app)

    response = register(client)

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/register/verify")
    page = client.get("/register/verify")
    assert "new@example.com" in page.text
    assert 'inputmode="numeric"' in page.text and 'autocomplete="one-time-code"' in page.text
    user = user_by_email(app, "new@example.com")
    assert user is not None and user.email_verified is False and user.name == "New Person"
    received = mailbox.wait_for("new@example.com")
    assert received.message.get_content_type() == "multipart/alternative"
    assert received.code in received.html and received.code in received.subject
    assert received.link("/verify-email").startswith("http://localhost/verify-email?token=")

    signed_in = submit_code(client, received.code)

    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["Location"] == "/"
    assert "idp_sso" in signed_in.headers.get("Set-Cookie", "")
    assert user_by_email(app, "new@example.com").email_verified is True
    assert "Signed in" in client.get("/").text
    with app.app_context():
        kinds = set(db.session.scalars(db.select(AuditEvent.event_type)))
    assert {"user.registered", "verify_email.requested", "user.email_verified"} <= kinds


def test_registration_from_an_authorization_request_resumes_it(app, client, mailbox):
    open_registration(app)
    rp = make_client(app, skip_consent=True)
    params, _ = authorization_params(rp)
    login = client.get("/authorize", query_string=params).headers["Location"]
    interaction_id = query(login)["interaction_id"]
    assert f"/register?interaction_id={interaction_id}" in client.get(login).text

    register(client, url=f"/register?interaction_id={interaction_id}")
    resumed = submit_code(client, mailbox.wait_for("new@example.com").code)

    assert resumed.status_code == 303
    assert resumed.headers["Location"].endswith(f"/authorize/resume/{interaction_id}")
    final = client.get(resumed.headers["Location"])
    assert final.headers["Location"].startswith(rp.redirect_uri)
    assert "code" in query(final.headers["Location"])


def test_an_existing_address_gets_the_same_page_and_its_owner_a_notice(app, client, mailbox):
    open_registration(app)
    make_user(app, email="taken@example.com")

    new = register(client, email="fresh@example.com")
    new_page = client.get("/register/verify").text
    client.delete_cookie("idp_flow")
    taken = register(client, email="Taken@Example.com", name="Someone Else")
    taken_page = client.get("/register/verify").text

    assert new.status_code == taken.status_code == 303
    assert new.headers["Location"] == taken.headers["Location"]
    assert new_page.replace("fresh@example.com", "X") == taken_page.replace(
        "taken@example.com", "X"
    ).replace("Taken@Example.com", "X").replace(csrf_token(taken_page), csrf_token(new_page))
    notice = mailbox.wait_for("taken@example.com")
    assert "already have" in notice.text.lower()
    assert notice.link("/password/forgot")
    assert not CODE_IN(notice.text)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 2
    # Codes for the existing address are refused like wrong ones, then "too many".
    answers = [submit_code(client, "123456") for _ in range(5)]
    assert [a.status_code for a in answers] == [422] * 5
    assert "not right" in answers[0].text and "Too many" in answers[-1].text


def CODE_IN(text: str) -> bool:  # noqa: N802
    import re

    return re.search(r"\b\d{6}\b", text) is not None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"password": "password123"}, "password", "common password"),
        ({"password": "qwertyuiop"}, "password", "common password"),
        ({"password": "new@example.com"}, "password", ""),
        ({"password": "short"}, "password", "at least 8"),
        ({"password": "x" * 2000}, "password", "at most 1024"),
        ({"email": "not-an-address"}, "email", "valid e-mail"),
        ({"email": "a" * 400 + "@example.com"}, "email", "valid e-mail"),
        ({"name": "n" * 300}, "name", "at most 200"),
    ],
)
def test_bad_registrations_say_which_field_and_why(app, client, fields, field, message):
    open_registration(app)
    data = {"email": "new@example.com", "password": PASSWORD, "name": "New", **fields}

    response = register(client, **data)

    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message.lower() in response.text.lower()
    assert 'aria-invalid="true"' in response.text
    assert user_by_email(app, "new@example.com") is None


def test_huge_form_is_refused_with_a_4xx(app, client):
    open_registration(app)
    token = csrf_token(client.get("/register").text)
    response = client.post(
        "/register",
        data={"email": "a@example.com", "password": "x" * 2_000_000, "csrf_token": token},
    )
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("url", ["/register", "/register/verify", "/password/forgot"])
def test_forms_refuse_a_post_without_csrf_token(app, client, url):
    open_registration(app)
    register(client)  # a registration in progress, for /register/verify
    response = client.post(url, data={"email": "a@example.com", "code": "123456"})
    assert response.status_code == 400
    assert "form has expired" in response.text


def test_wrong_code_counts_and_the_code_dies_after_max_attempts(app, client, mailbox):
    open_registration(app)
    register(client)
    code = mailbox.wait_for("new@example.com").code
    wrong = "000000" if code != "000000" else "111111"

    first = submit_code(client, wrong)
    assert first.status_code == 422 and "not right" in first.text
    for _ in range(3):
        submit_code(client, wrong)
    fifth = submit_code(client, wrong)
    assert "Too many" in fifth.text

    too_late = submit_code(client, code)  # the right code, once the budget is spent

    assert too_late.status_code == 422 and "Too many" in too_late.text
    assert user_by_email(app, "new@example.com").email_verified is False


def test_code_expires_after_five_minutes_and_resend_gives_a_new_one(
    app, client, mailbox, frozen_clock
):
    open_registration(app)
    register(client)
    old = mailbox.wait_for("new@example.com").code

    frozen_clock.advance(minutes=5, seconds=1)
    expired = submit_code(client, old)
    assert expired.status_code == 422 and "expired" in expired.text

    resent = submit_code(client, "", action="resend")
    assert resent.status_code == 200 and "new code" in resent.text
    new = mailbox.wait_for("new@example.com", count=2).code
    if new != old:
        assert submit_code(client, old).status_code == 422  # superseded
    assert submit_code(client, new).status_code == 303
    assert user_by_email(app, "new@example.com").email_verified is True


def test_register_verify_without_a_registration_goes_to_sign_in(client):
    response = client.get("/register/verify")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")


def test_registration_is_per_tenant(app, client):
    make_tenant(app, "acme")
    open_registration(app, "acme")
    rp = make_client(app, tenant_slug="acme")
    params, _ = authorization_params(rp)
    login = client.get("/authorize", query_string=params).headers["Location"]
    interaction_id = query(login)["interaction_id"]

    assert client.get("/register").status_code == 404  # the default tenant is closed
    assert client.get(f"/register?interaction_id={interaction_id}").status_code == 200
    register(client, url=f"/register?interaction_id={interaction_id}")

    with app.app_context():
        acme = tenants.get_by_slug("acme")
    assert user_by_email(app, "new@example.com").tenant_id == acme.id


def test_register_posts_are_rate_limited_per_ip(app, client):
    open_registration(app)
    token = csrf_token(client.get("/register").text)
    statuses = [
        client.post("/register", data={"email": "x", "csrf_token": token}).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [422] * 10 and statuses[10] == 429


def test_demo_start_opens_registration_on_the_default_tenant(app):
    from idp.cli import _ensure_demo

    with app.app_context():
        _ensure_demo()
        assert tenants.get_by_slug("default").registration_enabled is True


def test_registering_one_address_is_limited_across_client_addresses(app, client):
    """Rotating IPs must not flood one mailbox with codes or notices."""
    open_registration(app)
    token = csrf_token(client.get("/register").text)

    def post(email: str, i: int) -> int:
        return client.post(
            "/register",
            data={"email": email, "password": PASSWORD, "csrf_token": token},
            environ_base={"REMOTE_ADDR": f"10.0.1.{i + 1}"},
        ).status_code

    statuses = [post("Victim@Example.com" if i % 2 else "victim@example.com", i) for i in range(6)]

    assert statuses == [303] * 5 + [429]
    assert post("someone.else@example.com", 7) == 303


def test_resending_the_code_is_limited_per_address_across_client_addresses(app, client):
    """Each resend is a new mail and a fresh code budget: limited per address, not only per IP."""
    open_registration(app)
    register(client)
    token = csrf_token(client.get("/register/verify").text)

    def post(action: str, i: int) -> int:
        return client.post(
            "/register/verify",
            data={"code": "000000", "action": action, "csrf_token": token},
            environ_base={"REMOTE_ADDR": f"10.0.2.{i + 1}"},
        ).status_code

    statuses = [post("resend", i) for i in range(6)]

    assert statuses == [200] * 5 + [429]
    assert post("verify", 7) in (303, 422)  # checking a code is not a resend
