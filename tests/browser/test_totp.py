"""Enrol an authenticator app from /account/two-step and sign in with it, in a real browser
(Playwright driving Debian's Chromium against `idp serve`). The test plays the app: it reads
the key shown on the page and computes codes with pyotp."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest

from tests.browser.conftest import PHONE
from tests.live_server import LiveIdP
from tests.live_server import live_idp_fixture  # noqa: F401 - the `live_idp` fixture

PASSWORD = "browser-correct-horse-battery"

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.e2e]  # e2e: it starts `idp serve` too


@pytest.fixture
def context_options() -> dict[str, Any]:
    return PHONE


@pytest.fixture
def user(live_idp: LiveIdP) -> dict[str, Any]:
    email = f"totp-{secrets.token_hex(6)}@example.com"
    return live_idp.create_user(email, PASSWORD, "TOTP User")


def path_of(url: str) -> str:
    return urlsplit(url).path


def sign_in_with_password(page: Any, idp: LiveIdP, email: str) -> None:
    page.goto(idp.url("/account/two-step"))
    page.wait_for_url(re.compile(re.escape(idp.url("/login")) + r"\?"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_enrol_an_authenticator_app_and_sign_in_with_it(
    page: Any, live_idp: LiveIdP, user: dict[str, Any]
) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)

    # Signed in with the password only: no second factor yet.
    sign_in_with_password(page, live_idp, user["email"])
    page.wait_for_url(live_idp.url("/account/two-step"))
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()

    # Set up: the QR code is inline SVG, the key is printed for typing in by hand.
    page.get_by_role("button", name="Set up authenticator app").click()
    expect(page.locator(".qr svg")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    authenticator = pyotp.TOTP(secret)

    page.get_by_label("Code from the app").fill(authenticator.now())
    page.get_by_role("button", name="Turn on").click()
    codes = page.locator("#backup-codes li")
    expect(codes).to_have_count(10)
    expect(page.get_by_text(re.compile(r"^On since"))).to_be_visible()
    enrolled_step = authenticator.timecode(time.time())

    # Sign out, then in again: now the password alone is not enough.
    page.goto(live_idp.url("/"))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    sign_in_with_password(page, live_idp, user["email"])
    page.wait_for_url(live_idp.url("/login/mfa"))
    code_field = page.get_by_label("Code from your authenticator app")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    expect(code_field).to_have_attribute("inputmode", "numeric")

    # The enrolment code's step is spent (replay refused), so use the next step's code,
    # which the server accepts as one step of clock drift.
    later = time.time() + 30
    assert authenticator.timecode(later) > enrolled_step
    code_field.fill(authenticator.at(later))
    page.get_by_role("button", name="Verify").click()

    page.wait_for_url(live_idp.url("/account/two-step"))
    expect(page.get_by_text(re.compile(r"^On since"))).to_be_visible()
    expect(page.locator("#backup-remaining")).to_have_text("10 of 10 backup codes left.")
    # No CSP violation or script error on the way, and no missing page resource (the
    # browser's own /favicon.ico request is not the page's).
    assert not [e for e in errors if not e.startswith("Failed to load resource")], errors
    assert not missing, missing


def test_a_wrong_code_is_refused_and_a_backup_code_works(
    page: Any, live_idp: LiveIdP, user: dict[str, Any]
) -> None:
    sign_in_with_password(page, live_idp, user["email"])
    page.wait_for_url(live_idp.url("/account/two-step"))
    page.get_by_role("button", name="Set up authenticator app").click()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    backup_code = page.locator("#backup-codes li").first.inner_text().strip()

    page.context.clear_cookies()
    sign_in_with_password(page, live_idp, user["email"])
    page.wait_for_url(live_idp.url("/login/mfa"))
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("That code didn't work")
    assert path_of(page.url) == "/login/mfa"

    page.get_by_text("Use a backup code").click()
    page.get_by_label("Backup code").fill(backup_code.upper())
    page.get_by_role("button", name="Use backup code").click()
    page.wait_for_url(live_idp.url("/account/two-step"))
    expect(page.locator("#backup-remaining")).to_have_text("9 of 10 backup codes left.")
