"""Password reset by mailed link (/password/forgot, /password/reset): no enumeration, single
use, expiry, supersession, and a reset that throws everyone else out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idp import clock
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import BackupCode
from idp.models import Client
from idp.models import Consent
from idp.models import TotpCredential
from idp.models import User
from idp.models import WebAuthnCredential
from idp.services import audit
from idp.services import email_verification
from tests.accounts import signed_in
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorization_params
from tests.flow import authorize
from tests.flow import csrf_token
from tests.flow import exchange
from tests.flow import query
from tests.flow import refresh
from tests.flow import sign_in
from tests.mailbox import mailbox_fixture  # noqa: F401 - the `mailbox` fixture

NEW = "saffron-kettle-orbit-93"


def forgot(client, email: str, url: str = "/password/forgot"):
    page = client.get(url)
    assert page.status_code == 200
    return client.post(url, data={"email": email, "csrf_token": csrf_token(page.text)})


def local(link: str) -> str:
    return link.removeprefix("http://localhost")


def reset(client, link: str, password: str = NEW):
    page = client.get(local(link))
    assert page.status_code == 200, page.text
    return client.post(
        local(link), data={"password": password, "csrf_token": csrf_token(page.text)}
    )


def load(app, user_id: str) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def test_forgot_answers_the_same_for_known_and_unknown_addresses(app, client, mailbox):
    user = make_user(app, email="known@example.com")

    known = forgot(client, "known@example.com")
    unknown = forgot(client, "nobody@example.com")

    assert known.status_code == unknown.status_code == 200
    assert "Check your e-mail" in known.text
    assert known.text.replace("known@example.com", "X") == unknown.text.replace(
        "nobody@example.com", "X"
    )
    mailbox.wait_for("known@example.com")
    assert [m.recipients for m in mailbox.quiet()] == [["known@example.com"]]
    assert user.email == "known@example.com"


def test_reset_sets_the_password_ends_sessions_revokes_tokens_and_lifts_lockout(
    app, client, mailbox
):
    user = make_user(app, email_verified=False)
    rp = make_client(app, skip_consent=True, grant_types=["authorization_code", "refresh_token"])
    elsewhere = app.test_client()
    auth = authorize(elsewhere, rp, user)
    tokens = exchange(elsewhere, rp, auth.code, auth.verifier).json
    with app.app_context():  # then someone guessed at the password and locked the account
        locked = db.session.get(User, user.id)
        locked.failed_login_count = 7
        locked.locked_until = clock.now() + timedelta(hours=1)
        db.session.commit()

    forgot(client, user.email)
    link = mailbox.wait_for(user.email).link("/password/reset")
    done = reset(client, link)

    assert done.status_code == 200 and "Password changed" in done.text
    stored = load(app, user.id)
    assert stored.email_verified is True
    assert stored.failed_login_count == 0 and stored.locked_until is None
    assert stored.password_changed_at is not None
    assert "Signed in" not in elsewhere.get("/").text
    assert refresh(elsewhere, rp, tokens["refresh_token"]).status_code == 400
    assert sign_in(app.test_client(), "/login", user.email, NEW).status_code == 303
    notice = mailbox.wait_for(user.email, count=2)
    assert "reset" in notice.text
    with app.app_context():
        (event,) = db.session.scalars(
            db.select(AuditEvent).filter_by(event_type="user.password_reset")
        )
        assert event.details["sessions_ended"] == 1


def test_a_reset_link_works_once(app, client, mailbox):
    user = make_user(app)
    forgot(client, user.email)
    link = mailbox.wait_for(user.email).link("/password/reset")
    assert reset(client, link).status_code == 200

    again = client.get(local(link))

    assert again.status_code == 410 and "already been used" in again.text
    token = csrf_token(client.get("/password/forgot").text)
    post_again = client.post(local(link), data={"password": "another-fine-password-9",
                                                "csrf_token": token})  # fmt: skip
    assert post_again.status_code == 410
    assert sign_in(app.test_client(), "/login", user.email, NEW).status_code == 303


def test_a_reset_link_expires_after_thirty_minutes(app, client, mailbox, frozen_clock):
    user = make_user(app)
    forgot(client, user.email)
    link = mailbox.wait_for(user.email).link("/password/reset")
    page = client.get(local(link))

    frozen_clock.advance(minutes=30, seconds=1)

    assert client.get(local(link)).status_code == 410
    late = client.post(local(link), data={"password": NEW, "csrf_token": csrf_token(page.text)})
    assert late.status_code == 410 and "expired" in late.text
    assert sign_in(app.test_client(), "/login", user.email, user.password).status_code == 303


def test_a_new_request_supersedes_the_old_link(app, client, mailbox):
    user = make_user(app)
    forgot(client, user.email)
    old = mailbox.wait_for(user.email).link("/password/reset")
    forgot(client, user.email)
    new = mailbox.wait_for(user.email, count=2).link("/password/reset")

    assert client.get(local(old)).status_code == 410
    assert reset(client, new).status_code == 200


@pytest.mark.parametrize("token", ["", "nope", "x" * 5000])
def test_unknown_links_get_a_clear_page(client, token):
    response = client.get(f"/password/reset?token={token}")
    assert response.status_code == 404
    assert "This link does not work" in response.text and "Ask for a new link" in response.text


@pytest.mark.parametrize(
    ("password", "why"),
    [("password123", "common password"), ("qwertyuiop", "common password"),
     ("short", "at least 8"), ("x" * 5000, "at most 1024")],
)  # fmt: skip
def test_weak_passwords_are_refused_and_the_link_still_works(app, client, mailbox, password, why):
    user = make_user(app)
    forgot(client, user.email)
    link = mailbox.wait_for(user.email).link("/password/reset")

    refused = reset(client, link, password)

    assert refused.status_code == 422 and why in refused.text.lower()
    assert reset(client, link).status_code == 200


def test_the_users_own_address_is_refused_as_a_password(app, client, mailbox):
    user = make_user(app, email="margaret.hamilton@example.com")
    forgot(client, user.email)
    link = mailbox.wait_for(user.email).link("/password/reset")
    refused = reset(client, link, "margaret.hamilton@example.com")
    assert refused.status_code == 422


def test_reset_forms_need_the_csrf_token(app, client, mailbox):
    user = make_user(app)
    assert client.post("/password/forgot", data={"email": user.email}).status_code == 400
    forgot(client, user.email)
    link = mailbox.wait_for(user.email).link("/password/reset")
    assert client.post(local(link), data={"password": NEW}).status_code == 400
    assert reset(client, link).status_code == 200  # not consumed by the refused post


def test_forgot_is_rate_limited_per_address(app, client, mailbox):
    user = make_user(app)
    statuses = [forgot(client, user.email).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_forgot_refuses_garbage_with_a_4xx(client):
    assert forgot(client, "").status_code == 422
    assert forgot(client, "x" * 100_000).status_code == 422


def test_reset_mail_links_use_the_issuer_not_the_host_header(app, client, mailbox):
    user = make_user(app)
    page = client.get("/password/forgot", headers={"Host": "evil.example"})
    client.post(
        "/password/forgot",
        data={"email": user.email, "csrf_token": csrf_token(page.text)},
        headers={"Host": "evil.example"},
    )
    received = mailbox.wait_for(user.email)
    assert all(link.startswith("http://localhost/") for link in received.links)


def test_login_links_to_forgot_password_keeping_the_authorization_request(app, client, mailbox):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    params, _ = authorization_params(rp)
    login = client.get("/authorize", query_string=params).headers["Location"]
    interaction_id = query(login)["interaction_id"]
    forgot_url = f"/password/forgot?interaction_id={interaction_id}"
    assert forgot_url in client.get(login).text

    forgot(client, user.email, forgot_url)
    done = reset(client, mailbox.wait_for(user.email).link("/password/reset"))

    assert f"/login?interaction_id={interaction_id}" in done.text


def test_a_blocked_user_gets_no_reset_mail(app, client, mailbox):
    user = make_user(app, blocked_reason="fraud")
    other = make_user(app, email="ok@example.com")
    forgot(client, user.email)
    forgot(client, other.email)
    mailbox.wait_for(other.email)
    assert [m.recipients for m in mailbox.quiet()] == [[other.email]]


def test_signed_in_browser_resetting_is_signed_out_too(app, client, mailbox):
    user = make_user(app)
    signed_in(client, user)
    forgot(client, user.email)
    done = reset(client, mailbox.wait_for(user.email).link("/password/reset"))
    assert "idp_sso=;" in done.headers.get("Set-Cookie", "")
    assert "Signed in" not in client.get("/").text


# --- an unverified account belongs to whoever proves the address (pre-registration takeover)


def plant_enrolments(app, user) -> str:
    """What an attacker who registered the address first could set up: an authenticator app,
    a passkey, backup codes and a remembered consent. Returns the consenting client's id."""
    rp = make_client(app)
    with app.app_context():
        client_row = db.session.scalar(db.select(Client).filter_by(client_id=rp.client_id))
        db.session.add_all(
            [
                TotpCredential(
                    tenant_id=user.tenant_id,
                    user_id=user.id,
                    secret_encrypted="attacker",
                    confirmed_at=clock.now(),
                ),
                WebAuthnCredential(
                    tenant_id=user.tenant_id,
                    user_id=user.id,
                    credential_id="attacker-passkey",
                    public_key=b"k",
                    name="Attacker key",
                ),
                BackupCode(tenant_id=user.tenant_id, user_id=user.id, code_hash="h", lookup="ab"),
                Consent(
                    tenant_id=user.tenant_id,
                    user_id=user.id,
                    client_id=client_row.id,
                    scopes=["openid"],
                ),
            ]
        )
        db.session.commit()
        return client_row.id


def planted(app, user_id: str) -> dict[str, int]:
    with app.app_context():
        return {
            model.__name__: len(
                db.session.scalars(db.select(model).filter_by(user_id=user_id)).all()
            )
            for model in (TotpCredential, WebAuthnCredential, BackupCode, Consent)
        }


def reset_event(app) -> AuditEvent:
    with app.app_context():
        (event,) = db.session.scalars(
            db.select(AuditEvent).filter_by(event_type="user.password_reset")
        )
        db.session.expunge(event)
        return event


def test_resetting_an_unverified_account_removes_what_the_pre_registrant_set_up(
    app, client, mailbox
):
    user = make_user(app, email="victim@example.com", email_verified=False)
    plant_enrolments(app, user)
    assert planted(app, user.id) == dict.fromkeys(
        ["TotpCredential", "WebAuthnCredential", "BackupCode", "Consent"], 1
    )

    forgot(client, user.email)
    done = reset(client, mailbox.wait_for(user.email).link("/password/reset"))

    assert done.status_code == 200
    assert planted(app, user.id) == dict.fromkeys(
        ["TotpCredential", "WebAuthnCredential", "BackupCode", "Consent"], 0
    )
    assert load(app, user.id).email_verified is True
    event = reset_event(app)
    assert event.details["took_over_unverified"] is True
    assert event.details["mfa_removed"] == 3 and event.details["consents_forgotten"] == 1
    # Signing in now asks for the password only: no factor of the attacker's is left.
    assert sign_in(app.test_client(), "/login", user.email, NEW).status_code == 303


def test_resetting_a_verified_account_keeps_its_second_factors_and_consents(app, client, mailbox):
    user = make_user(app)
    plant_enrolments(app, user)

    forgot(client, user.email)
    assert reset(client, mailbox.wait_for(user.email).link("/password/reset")).status_code == 200

    assert planted(app, user.id) == dict.fromkeys(
        ["TotpCredential", "WebAuthnCredential", "BackupCode", "Consent"], 1
    )
    assert reset_event(app).details["took_over_unverified"] is False


# --- links that outlive the address or the reset ----------------------------------------------


def change_address(app, user_id: str, new_email: str) -> None:
    """An e-mail change, verified by its link (as /verify-email does)."""
    with app.app_context():
        user = db.session.get(User, user_id)
        issued = email_verification.start_change(user, new_email, actor=audit.SYSTEM)
        email_verification.verify_link(issued.link_token, actor=audit.SYSTEM)
        db.session.commit()


def test_an_address_change_kills_reset_links_even_if_the_address_comes_back(app, client, mailbox):
    user = make_user(app, email="first@example.com")
    forgot(client, user.email)
    link = mailbox.wait_for(user.email).link("/password/reset")

    change_address(app, user.id, "second@example.com")
    change_address(app, user.id, "first@example.com")

    dead = client.get(local(link))
    assert dead.status_code == 410 and "This link does not work" in dead.text
    assert sign_in(app.test_client(), "/login", user.email, user.password).status_code == 303


def test_a_reset_link_for_an_address_the_account_no_longer_has_does_not_work(app, client, mailbox):
    user = make_user(app, email="old@example.com")
    forgot(client, user.email)
    link = mailbox.wait_for(user.email).link("/password/reset")
    page = client.get(local(link))
    with app.app_context():  # e.g. an administrator changed the address meanwhile
        stored = db.session.get(User, user.id)
        stored.email, stored.email_normalized = "new@example.com", "new@example.com"
        db.session.commit()

    shown = client.get(local(link))
    posted = client.post(local(link), data={"password": NEW, "csrf_token": csrf_token(page.text)})

    assert shown.status_code == 410 and "This link does not work" in shown.text
    assert posted.status_code == 410 and "no longer" in posted.text
    assert load(app, user.id).password_changed_at is None
    assert sign_in(app.test_client(), "/login", "new@example.com", NEW).status_code == 200


def test_a_reset_kills_a_pending_address_change(app, client, mailbox):
    user = make_user(app)
    with app.app_context():  # e.g. started by whoever the reset throws out
        issued = email_verification.start_change(
            db.session.get(User, user.id), "thief@example.com", actor=audit.SYSTEM
        )
        db.session.commit()
        change_link = f"/verify-email?token={issued.link_token}"
    assert client.get(change_link).status_code == 200

    forgot(client, user.email)
    assert reset(client, mailbox.wait_for(user.email).link("/password/reset")).status_code == 200

    assert client.get(change_link).status_code == 410
    assert load(app, user.id).email == user.email
