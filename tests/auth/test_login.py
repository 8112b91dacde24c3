"""Hosted sign-in: CSRF, uniform errors, cookies and security headers."""

from __future__ import annotations

import re

import pytest

from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorize
from tests.flow import csrf_token
from tests.flow import sign_in

GENERIC_ERROR = "Incorrect e-mail address or password."


def test_login_without_csrf_token_is_refused(app, client):
    user = make_user(app)
    client.get("/login")
    response = client.post("/login", data={"email": user.email, "password": user.password})
    assert response.status_code == 400
    assert "idp_sso" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize(
    "email, password",
    [
        ("alice@example.com", "wrong password!"),
        ("nobody@example.com", "correct horse battery staple"),
        ("ALICE@example.com", ""),
        ("", ""),
        ("x" * 5000, "y" * 5000),
    ],
)
def test_wrong_credentials_show_the_same_message(app, client, email, password):
    make_user(app)
    response = sign_in(client, "/login", email, password)
    assert response.status_code == 200
    assert GENERIC_ERROR in response.text
    assert 'role="alert"' in response.text
    assert "idp_sso" not in response.headers.get("Set-Cookie", "")


def test_email_match_is_case_insensitive(app, client):
    user = make_user(app)
    response = sign_in(client, "/login", "  Alice@Example.COM ", user.password)
    assert response.status_code == 303


def test_blocked_user_cannot_sign_in(app, client):
    user = make_user(app, blocked_reason="fraud")
    response = sign_in(client, "/login", user.email, user.password)
    assert GENERIC_ERROR in response.text


def test_session_cookie_is_httponly_and_lax(app, client):
    user = make_user(app)
    response = sign_in(client, "/login", user.email, user.password)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("idp_sso="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test issuer is http://localhost


def test_session_cookie_is_secure_when_the_issuer_is_https(settings):
    from dataclasses import replace

    from idp import create_app
    from idp.cli import initialize

    https_app = create_app(replace(settings, issuer="https://id.example.com"))
    with https_app.app_context():
        initialize()
    user = make_user(https_app, email="secure@example.com")
    http = https_app.test_client()
    page = http.get("/login", base_url="https://id.example.com")
    response = http.post(
        "/login",
        base_url="https://id.example.com",
        data={"email": user.email, "password": user.password, "csrf_token": csrf_token(page.text)},
        headers={"Referer": "https://id.example.com/login"},
    )
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("idp_sso="))
    assert "Secure" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/login",
        "/authorize",
        "/.well-known/openid-configuration",
        "/jwks.json",
        "/token",
        "/no-such-page",
    ],
)
def test_security_headers_on_every_page(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_with_secrets_are_not_cached(client):
    assert client.get("/login").headers["Cache-Control"] == "no-store"


def test_login_page_works_without_javascript(client):
    """The password form is plain HTML; the only script (passkeys) is an external file that
    enhances a form hidden until it runs."""
    page = client.get("/login").text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
    assert all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert re.search(r'<form[^>]*class="form passkey-signin"[^>]*\bhidden\b', page)
    assert 'name="email"' in page and 'name="password"' in page and 'name="csrf_token"' in page


def test_logout_ends_the_session(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    authorize(client, rp, user)
    home = client.get("/")
    assert user.email in home.text
    response = client.post("/logout", data={"csrf_token": csrf_token(home.text)})
    assert response.status_code == 200
    assert user.email not in client.get("/").text


def test_unknown_page_is_a_clean_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert "Traceback" not in response.text


def test_password_guessing_is_rate_limited(app, client):
    # An address without an account: the account lockout (test_mfa_signin) is not in play.
    page = client.get("/login")
    token = csrf_token(page.text)
    statuses = [
        client.post(
            "/login",
            data={"email": "nobody@example.com", "password": f"guess {i}", "csrf_token": token},
        ).status_code
        for i in range(11)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429
    assert client.get("/login").status_code == 200  # reading the page is not limited


def test_guesses_against_one_account_are_limited_across_addresses(app, client):
    # Keyed on the address typed, whether or not it has an account (no lockout in play).
    token = csrf_token(client.get("/login").text)
    statuses = []
    for i in range(21):
        statuses.append(
            client.post(
                "/login",
                data={"email": "nobody@example.com", "password": f"guess {i}", "csrf_token": token},
                environ_base={"REMOTE_ADDR": f"10.0.0.{i + 1}"},
            ).status_code
        )
    assert statuses[:20] == [200] * 20
    assert statuses[20] == 429


def test_home_page_leads_a_signed_in_user_to_their_account(app, client):
    user = make_user(app)
    assert 'href="/account"' not in client.get("/").text
    sign_in(client, "/login", user.email, user.password)

    assert 'href="/account"' in client.get("/").text
    account = client.get("/account")
    assert account.status_code == 200
    assert '<span class="brand">Your account</span>' in account.text
