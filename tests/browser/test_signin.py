"""Hosted sign-in and consent in a real browser (Playwright driving Debian's Chromium).

The relying party does not exist: its redirect_uri points at a port nothing listens on, and the
browser's navigation there is intercepted and answered by the test, which reads the URL.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest

from tests.live_server import LiveIdP
from tests.live_server import free_port
from tests.live_server import live_idp_fixture  # noqa: F401 - the `live_idp` fixture

PASSWORD = "browser-correct-horse-battery"
ERROR_MESSAGE = "Incorrect e-mail address or password."

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.e2e]  # e2e: it starts `idp serve` too


@pytest.fixture(scope="module")
def client(live_idp: LiveIdP) -> dict[str, Any]:
    redirect_uri = f"http://localhost:{free_port()}/callback"  # nothing listens there
    created = live_idp.create_client("Browser Test App", redirect_uri)
    assert created["client_secret"]
    return created


@pytest.fixture
def user(live_idp: LiveIdP) -> dict[str, Any]:
    email = f"browser-{secrets.token_hex(6)}@example.com"
    return live_idp.create_user(email, PASSWORD, "Browser User")


def authorization_url(idp: LiveIdP, client: dict[str, Any], state: str) -> str:
    """A plain authorization request (PKCE S256 with a fixed verifier: no token exchange)."""
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uris"][0],
        "scope": "openid email",
        "state": state,
        "nonce": secrets.token_urlsafe(12),
        # S256 of the RFC 7636 appendix B verifier
        "code_challenge": "E9Melhoa2OwvFrEMTJguCQaoWdW47lw9TqXhx1RWJ2s",
        "code_challenge_method": "S256",
    }
    return f"{idp.url('/authorize')}?{urlencode(query)}"


def open_login(page: Any, idp: LiveIdP, client: dict[str, Any], state: str) -> None:
    page.goto(authorization_url(idp, client, state))
    page.wait_for_url(re.compile(re.escape(idp.url("/login")) + r"\?"))
    sync_api.expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def sign_in(page: Any, email: str, password: str) -> Any:
    """Fill the form by its labels and submit it; returns the answer to the POST."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)

    def is_login_post(response: Any) -> bool:
        return response.request.method == "POST" and urlsplit(response.url).path == "/login"

    with page.expect_response(is_login_post) as answer:
        page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_load_state()
    return answer.value


def test_sign_in_and_consent_reach_the_redirect_uri(
    page: Any, live_idp: LiveIdP, client: dict[str, Any], user: dict[str, Any]
) -> None:
    redirect_uri = client["redirect_uris"][0]
    reached: list[str] = []

    def answer_as_the_client(route: Any) -> None:
        reached.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="callback received")

    page.route(re.compile("^" + re.escape(redirect_uri) + r"(\?.*)?$"), answer_as_the_client)
    state = secrets.token_urlsafe(16)

    open_login(page, live_idp, client, state)
    assert sign_in(page, user["email"], PASSWORD).status == 303

    page.wait_for_url(re.compile(re.escape(live_idp.url("/consent")) + r"\?"))
    sync_api.expect(page.get_by_role("heading")).to_contain_text("Browser Test App")
    sync_api.expect(page.get_by_text(user["email"])).to_be_visible()
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(re.compile("^" + re.escape(redirect_uri) + r"\?"))
    sync_api.expect(page.locator("body")).to_have_text("callback received")
    assert reached == [page.url]
    params = parse_qs(urlsplit(page.url).query)
    assert "error" not in params, params
    assert params["code"][0]
    assert params["state"] == [state]
    assert params["iss"] == [live_idp.issuer]


def test_wrong_password_shows_the_same_error_as_an_unknown_email(
    page: Any, live_idp: LiveIdP, client: dict[str, Any], user: dict[str, Any]
) -> None:
    open_login(page, live_idp, client, secrets.token_urlsafe(16))
    login_url = page.url

    assert sign_in(page, user["email"], "not-the-password").status == 200
    alert = page.get_by_role("alert")
    sync_api.expect(alert).to_have_text(ERROR_MESSAGE)
    wrong_password = alert.inner_text().strip()
    assert page.url == login_url  # the form is shown again, same interaction
    sync_api.expect(page.get_by_label("Email")).to_have_value(user["email"])
    sync_api.expect(page.get_by_label("Password")).to_have_value("")
    sync_api.expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()

    unknown = f"nobody-{secrets.token_hex(6)}@example.com"
    assert sign_in(page, unknown, PASSWORD).status == 200
    sync_api.expect(page.get_by_label("Email")).to_have_value(unknown)
    sync_api.expect(alert).to_have_text(ERROR_MESSAGE)
    unknown_email = alert.inner_text().strip()
    assert page.url == login_url

    assert unknown_email == wrong_password
