"""Register a passkey on /account/passkeys and sign in with it, in a real browser (Playwright
driving Debian's Chromium against `idp serve` on http://localhost:PORT, never 127.0.0.1:
browsers refuse an IP address as the WebAuthn relying-party id). Chromium's virtual
authenticator (CDP WebAuthn domain) plays the phone or the security key."""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.browser.conftest import PHONE
from tests.live_server import LiveIdP
from tests.live_server import live_idp_fixture  # noqa: F401 - the `live_idp` fixture

PASSWORD = "browser-correct-horse-battery"
PLATFORM_PASSKEY = {  # a phone or laptop: discoverable credentials, verifies the user
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}
SECURITY_KEY = {  # a plain USB key: no resident keys, no PIN, a touch only
    "protocol": "ctap2",
    "transport": "usb",
    "hasResidentKey": False,
    "hasUserVerification": False,
    "automaticPresenceSimulation": True,
}

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.e2e]  # e2e: it starts `idp serve` too


@pytest.fixture
def context_options() -> dict[str, Any]:
    return PHONE


@pytest.fixture
def user(live_idp: LiveIdP) -> dict[str, Any]:
    email = f"passkey-{secrets.token_hex(6)}@example.com"
    return live_idp.create_user(email, PASSWORD, "Passkey User")


class VirtualAuthenticator:
    def __init__(self, page: Any, options: dict[str, Any]) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable")
        added = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
        self.id = added["authenticatorId"]

    def credentials(self) -> list[dict[str, Any]]:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        return list(found["credentials"])


def watch_for_errors(page: Any) -> list[str]:
    """Console errors (a CSP violation, a script error) collected while the test runs."""
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    return errors


def sign_in_with_password(page: Any, idp: LiveIdP, email: str) -> None:
    page.goto(idp.url("/account/passkeys"))
    page.wait_for_url(re.compile(re.escape(idp.url("/login")) + r"\?"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def add_passkey(page: Any, idp: LiveIdP, name: str) -> None:
    page.wait_for_url(idp.url("/account/passkeys"))
    expect(page.get_by_role("heading", name="Passkeys", exact=True)).to_be_visible()
    expect(page.get_by_text("You have no passkeys yet.")).to_be_visible()
    page.get_by_label("Name (optional)").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("status")).to_have_text(f"Passkey “{name}” added.")
    expect(page.locator(".passkey-name")).to_have_text(name)


def sign_out(page: Any, idp: LiveIdP) -> None:
    page.goto(idp.url("/"))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


def test_register_a_passkey_and_sign_in_with_it_without_a_password(
    page: Any, live_idp: LiveIdP, user: dict[str, Any]
) -> None:
    errors = watch_for_errors(page)
    authenticator = VirtualAuthenticator(page, PLATFORM_PASSKEY)

    sign_in_with_password(page, live_idp, user["email"])
    add_passkey(page, live_idp, "My phone")
    (stored,) = authenticator.credentials()
    assert stored["isResidentCredential"] is True  # discoverable: usable without an e-mail

    sign_out(page, live_idp)
    page.goto(live_idp.url("/account/passkeys"))
    page.wait_for_url(re.compile(re.escape(live_idp.url("/login")) + r"\?"))
    expect(page.get_by_label("Password")).to_have_value("")
    page.get_by_role("button", name="Sign in with a passkey").click()

    # Straight back to the page asked for, signed in, no password typed, no second step.
    page.wait_for_url(live_idp.url("/account/passkeys"))
    expect(page.locator(".passkey-name")).to_have_text("My phone")
    expect(page.locator(".passkey-meta")).to_contain_text("last used")
    assert authenticator.credentials()[0]["signCount"] >= 1
    assert not errors, errors


def test_a_security_key_as_the_second_factor_after_the_password(
    page: Any, live_idp: LiveIdP, user: dict[str, Any]
) -> None:
    errors = watch_for_errors(page)
    authenticator = VirtualAuthenticator(page, SECURITY_KEY)

    sign_in_with_password(page, live_idp, user["email"])
    add_passkey(page, live_idp, "USB key")
    (stored,) = authenticator.credentials()
    assert stored["isResidentCredential"] is False

    sign_out(page, live_idp)
    sign_in_with_password(page, live_idp, user["email"])
    page.wait_for_url(live_idp.url("/login/mfa"))
    page.get_by_role("button", name="Use your passkey").click()

    page.wait_for_url(live_idp.url("/account/passkeys"))
    expect(page.locator(".passkey-name")).to_have_text("USB key")
    assert not errors, errors


def test_passwordless_sign_in_with_an_unknown_passkey_shows_an_error(
    page: Any, live_idp: LiveIdP
) -> None:
    """A discoverable credential for this site that the server never registered: the page
    again, with an error (and no session)."""
    authenticator = VirtualAuthenticator(page, PLATFORM_PASSKEY)
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    authenticator.cdp.send(
        "WebAuthn.addCredential",
        {
            "authenticatorId": authenticator.id,
            "credential": {
                "credentialId": base64.b64encode(secrets.token_bytes(16)).decode(),
                "isResidentCredential": True,
                "rpId": "localhost",
                "privateKey": base64.b64encode(key).decode(),
                "userHandle": base64.b64encode(secrets.token_bytes(16)).decode(),
                "signCount": 0,
            },
        },
    )
    page.goto(live_idp.url("/login"))
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_contain_text("This passkey is not registered here.")
    assert not [c for c in page.context.cookies() if c["name"] == "idp_sso"]
