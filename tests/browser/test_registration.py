"""Registration and password reset in a real browser (Playwright driving Debian's Chromium),
against `idp serve` sending real mail to an aiosmtpd server on loopback."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.live_server import LiveIdP
from tests.mailbox import Mailbox

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "marble-tangerine-cascade-51"
NEW_PASSWORD = "harbor-quilt-nebula-77"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with Mailbox.running() as box:
        yield box


@pytest.fixture(scope="module")
def live_idp(mailbox: Mailbox) -> Iterator[LiveIdP]:
    """A server that mails through the test mailbox, with registration open on its default
    tenant (switched on through the management API with a platform key)."""
    with LiveIdP(env={"IDP_SMTP_URL": mailbox.url}) as server:
        key = server.cli("apikeys", "create", "--name", "t", "--scope", "*", "--platform")["key"]
        headers = {"Authorization": f"Bearer {key}"}
        listed = requests.get(server.url("/management/v1/tenants"), headers=headers, timeout=10)
        default = next(t for t in listed.json()["items"] if t["slug"] == "default")
        opened = requests.patch(
            server.url(f"/management/v1/tenants/{default['id']}"),
            json={"registration_enabled": True},
            headers=headers,
            timeout=10,
        )
        assert opened.status_code == 200 and opened.json()["registration_enabled"] is True
        yield server


def sign_in(page: Any, idp: LiveIdP, email: str, password: str) -> None:
    page.goto(idp.url("/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(idp.url("/"))
    sync_api.expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
    sync_api.expect(page.get_by_text(email)).to_be_visible()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


def test_register_verify_with_the_mailed_code_then_sign_in(
    page: Any, live_idp: LiveIdP, mailbox: Mailbox
) -> None:
    email = f"reg-{secrets.token_hex(4)}@example.com"
    page.goto(live_idp.url("/login"))
    page.get_by_role("link", name="Create an account").click()
    sync_api.expect(page.get_by_role("heading", name="Create an account")).to_be_visible()

    page.get_by_label("Name").fill("Browser Registrant")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("password123")
    page.get_by_role("button", name="Create account").click()
    sync_api.expect(page.get_by_text("common password")).to_be_visible()  # weak: refused

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(live_idp.url("/register/verify"))
    sync_api.expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

    code = mailbox.wait_for(email).code
    page.get_by_label("Verification code").fill(code)
    page.get_by_role("button", name="Verify").click()

    page.wait_for_url(live_idp.url("/"))
    sync_api.expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
    sign_out(page)
    sign_in(page, live_idp, email, PASSWORD)
    page.goto(live_idp.url("/account"))
    sync_api.expect(page.get_by_text("verified", exact=True)).to_be_visible()


def test_register_verify_with_the_mailed_link_then_sign_in(
    page: Any, live_idp: LiveIdP, mailbox: Mailbox
) -> None:
    email = f"link-{secrets.token_hex(4)}@example.com"
    page.goto(live_idp.url("/register"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(live_idp.url("/register/verify"))

    page.goto(mailbox.wait_for(email).link("/verify-email"))
    page.get_by_role("button", name="Confirm").click()
    sync_api.expect(page.get_by_role("heading", name="E-mail address verified")).to_be_visible()
    page.get_by_role("link", name="Sign in", exact=True).click()

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(live_idp.url("/"))
    sync_api.expect(page.get_by_role("heading", name="Signed in")).to_be_visible()


def test_forgot_password_reset_by_the_mailed_link_then_sign_in(
    page: Any, live_idp: LiveIdP, mailbox: Mailbox
) -> None:
    email = f"reset-{secrets.token_hex(4)}@example.com"
    live_idp.create_user(email, PASSWORD, "Forgetful User")
    page.goto(live_idp.url("/login"))
    page.get_by_role("link", name="Forgot password?").click()

    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send the link").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text(email)

    page.goto(mailbox.wait_for(email).link("/password/reset"))
    sync_api.expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    sync_api.expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    link = page.url

    page.get_by_role("link", name="Sign in", exact=True).click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)  # the old one no longer works
    page.get_by_role("button", name="Sign in", exact=True).click()
    sync_api.expect(page.get_by_role("alert")).to_be_visible()
    sign_in(page, live_idp, email, NEW_PASSWORD)

    page.goto(link)  # the link is single use
    sync_api.expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
    assert re.search(r"already been used", page.content())
