"""E-mail verification by link (/verify-email): GET only shows a button (mail scanners
prefetch links), POST verifies once; used, superseded, expired and unknown links get a clear
page; the link never signs anyone in."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.models import ActionToken
from idp.models import User
from idp.services import tenants
from tests.flow import csrf_token
from tests.mailbox import mailbox_fixture  # noqa: F401 - the `mailbox` fixture

PASSWORD = "juniper-compass-velvet-8"


def local(link: str) -> str:
    return link.removeprefix("http://localhost")


def verified(app, email: str) -> bool:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email_normalized == email))
        return bool(user and user.email_verified)


def start_registration(app, client, email: str = "new@example.com") -> None:
    with app.app_context():
        tenants.update(tenants.get_by_slug("default"), registration_enabled=True)
        db.session.commit()
    page = client.get("/register")
    response = client.post(
        "/register",
        data={"email": email, "password": PASSWORD, "name": "New",
              "csrf_token": csrf_token(page.text)},
    )  # fmt: skip
    assert response.status_code == 303


def confirm(client, link: str):
    page = client.get(local(link))
    assert page.status_code == 200, page.text
    return client.post(local(link), data={"csrf_token": csrf_token(page.text)})


def test_link_from_another_browser_verifies_and_invites_to_sign_in(app, client, mailbox):
    start_registration(app, client)
    link = mailbox.wait_for("new@example.com").link("/verify-email")
    other_browser = app.test_client()

    page = other_browser.get(local(link))
    assert page.status_code == 200 and "Confirm" in page.text
    assert not verified(app, "new@example.com")  # the GET alone changes nothing
    done = other_browser.post(local(link), data={"csrf_token": csrf_token(page.text)})

    assert done.status_code == 200 and "is verified" in done.text
    assert 'href="/login"' in done.text
    assert "idp_sso" not in done.headers.get("Set-Cookie", "")
    assert verified(app, "new@example.com")
    # the registering browser's code form now just says so
    code_page = client.get("/register/verify")
    answer = client.post(
        "/register/verify",
        data={"code": "000000", "action": "verify", "csrf_token": csrf_token(code_page.text)},
    )
    assert answer.status_code == 200 and "is verified" in answer.text


def test_a_used_link_gets_a_clear_410_page(app, client, mailbox):
    start_registration(app, client)
    link = mailbox.wait_for("new@example.com").link("/verify-email")
    confirm(client, link)

    again = client.get(local(link))

    assert again.status_code == 410
    assert "This link does not work" in again.text and "already been used" in again.text


def test_a_link_expires_after_its_lifetime(app, client, mailbox, frozen_clock):
    start_registration(app, client)
    link = mailbox.wait_for("new@example.com").link("/verify-email")

    frozen_clock.advance(hours=24, seconds=1)

    response = client.get(local(link))
    assert response.status_code == 410 and "expired" in response.text
    assert not verified(app, "new@example.com")


def test_resending_supersedes_the_first_link(app, client, mailbox):
    start_registration(app, client)
    first = mailbox.wait_for("new@example.com").link("/verify-email")
    page = client.get("/register/verify")
    client.post("/register/verify", data={"action": "resend", "csrf_token": csrf_token(page.text)})
    second = mailbox.wait_for("new@example.com", count=2).link("/verify-email")

    assert client.get(local(first)).status_code == 410
    assert confirm(client, second).status_code == 200


@pytest.mark.parametrize("token", ["", "unknown", "%00" * 10, "x" * 10_000])
def test_unknown_links_are_404_with_a_clear_page(client, token):
    response = client.get(f"/verify-email?token={token}")
    assert response.status_code == 404 and "This link does not work" in response.text


def test_confirming_needs_the_csrf_token(app, client, mailbox):
    start_registration(app, client)
    link = mailbox.wait_for("new@example.com").link("/verify-email")
    assert client.post(local(link)).status_code == 400
    assert not verified(app, "new@example.com")


def test_a_link_for_an_address_the_account_no_longer_has_does_not_verify(app, client, mailbox):
    start_registration(app, client)
    link = mailbox.wait_for("new@example.com").link("/verify-email")
    with app.app_context():  # an administrator changed the address meanwhile
        user = db.session.scalar(db.select(User).filter_by(email_normalized="new@example.com"))
        user.email, user.email_normalized = "other@example.com", "other@example.com"
        db.session.commit()

    response = confirm(client, link)

    assert response.status_code == 410 and "no longer" in response.text
    assert not verified(app, "other@example.com")


def test_tokens_are_stored_only_as_hashes(app, client, mailbox):
    start_registration(app, client)
    received = mailbox.wait_for("new@example.com")
    link_token = received.link("/verify-email").split("token=")[1]
    with app.app_context():
        (token,) = db.session.scalars(db.select(ActionToken))
        assert link_token not in (token.token_hash, token.code_hash)
        assert received.code not in (token.token_hash, token.code_hash)
        assert token.purpose == "verify_email"


def test_purge_deletes_used_and_expired_action_tokens(app, client, mailbox, frozen_clock):
    from idp.services import maintenance

    start_registration(app, client)
    first = mailbox.wait_for("new@example.com").link("/verify-email")
    confirm(client, first)
    start_registration(app, app.test_client(), "later@example.com")  # unused, still live
    with app.app_context():
        assert maintenance.purge_expired()["action_tokens"] == 1  # the used one
        db.session.commit()
    frozen_clock.advance(hours=24, seconds=1)
    with app.app_context():
        assert maintenance.purge_expired()["action_tokens"] == 1  # the expired one
        db.session.commit()
        assert db.session.scalar(db.select(db.func.count()).select_from(ActionToken)) == 0
