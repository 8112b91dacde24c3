"""idp.client.ManagementClient end to end against a real `idp serve` (gunicorn).

Every operation the server documents in its OpenAPI document is exercised; an operation the
document lacks is skipped with the reason, so this module follows the API as it grows."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from idp.client import JSON
from idp.client import ManagementApiError
from idp.client import ManagementClient
from idp.client import Page
from tests.e2e.test_code_flow import PASSWORD
from tests.e2e.test_code_flow import Browser
from tests.e2e.test_code_flow import authorization_response
from tests.e2e.test_code_flow import sign_in
from tests.live_server import LiveIdP
from tests.live_server import free_port
from tests.live_server import live_idp_fixture  # noqa: F401 - the `live_idp` fixture

pytestmark = pytest.mark.e2e

PREFIX = "/management/v1"
TIMEOUT = 10


@pytest.fixture(scope="module")
def operations(live_idp: LiveIdP) -> set[tuple[str, str]]:
    """(METHOD, path under /management/v1) of every operation the server documents."""
    response = requests.get(live_idp.url(f"{PREFIX}/openapi.json"), timeout=TIMEOUT)
    assert response.status_code == 200
    return {
        (method.upper(), path.removeprefix(PREFIX))
        for path, item in response.json()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


@pytest.fixture(scope="module")
def platform_key(live_idp: LiveIdP) -> str:
    created = live_idp.cli(
        "apikeys", "create", "--name", "client e2e", "--scope", "*", "--platform"
    )
    key: str = created["key"]
    assert key
    return key


@pytest.fixture
def api(live_idp: LiveIdP, platform_key: str) -> Iterator[ManagementClient]:
    with ManagementClient(live_idp.base_url, api_key=platform_key) as client:
        yield client


@pytest.fixture
def require(operations: set[tuple[str, str]]):
    def check(*wanted: str) -> None:
        missing = [op for op in wanted if tuple(op.split(" ", 1)) not in operations]
        if missing:
            pytest.skip(f"the server does not document {', '.join(missing)} yet")

    return check


def _email() -> str:
    return f"client-{secrets.token_hex(5)}@example.com"


def _session_and_grant(live_idp: LiveIdP, api: ManagementClient, email: str) -> None:
    redirect_uri = f"http://localhost:{free_port()}/callback"
    client = api.create_client(
        "Sessions RP", redirect_uris=[redirect_uri], public=True, skip_consent=True
    )
    provider = requests.get(
        live_idp.url("/.well-known/openid-configuration"), timeout=TIMEOUT
    ).json()
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": redirect_uri,
        "scope": "openid email",
        "state": "s",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with requests.Session() as session:
        browser = Browser(session, redirect_uri)
        final = sign_in(browser, f"{provider['authorization_endpoint']}?{urlencode(query)}", email)
        params = authorization_response(final, redirect_uri)
    token = requests.post(
        provider["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": redirect_uri,
            "client_id": client["client_id"],
            "code_verifier": verifier,
        },
        timeout=TIMEOUT,
    )
    assert token.status_code == 200, token.text


# --- users ---------------------------------------------------------------------------------


def test_user_lifecycle(api: ManagementClient, require) -> None:
    require("POST /users", "GET /users/{user_id}", "PATCH /users/{user_id}")
    require("DELETE /users/{user_id}", "POST /users/{user_id}/password")
    require("POST /users/{user_id}/block", "POST /users/{user_id}/unblock")
    email = _email()
    user = api.create_user(email, password=PASSWORD, name="Client User", email_verified=True)
    assert user["email"] == email and user["id"] and user["email_verified"] is True
    assert api.get_user(user["id"])["name"] == "Client User"

    updated = api.update_user(user["id"], name="Renamed", roles=["admin"])
    assert updated["name"] == "Renamed" and updated["roles"] == ["admin"]

    assert api.set_password(user["id"], "another long passphrase 42") is None  # 204
    blocked = api.block_user(user["id"], reason="suspicious sign-ins")
    assert blocked["is_active"] is False or blocked.get("blocked")
    unblocked = api.unblock_user(user["id"])
    assert unblocked["is_active"] is True or not unblocked.get("blocked")

    api.delete_user(user["id"])
    with pytest.raises(ManagementApiError) as caught:
        api.get_user(user["id"])
    assert caught.value.status == 404


def test_list_and_iterate_users_with_filters(api: ManagementClient, require) -> None:
    require("GET /users", "POST /users")
    tag = secrets.token_hex(4)
    emails = {f"page-{tag}-{i}@example.com" for i in range(5)}
    for email in sorted(emails):
        api.create_user(email, email_verified=True)

    first = api.list_users(search=f"page-{tag}", limit=2)
    assert isinstance(first, Page) and len(first) == 2 and first.total == 5
    assert first.next_cursor  # keyset paging
    second = api.list_users(search=f"page-{tag}", limit=2, cursor=first.next_cursor)
    assert {u["id"] for u in first}.isdisjoint({u["id"] for u in second})
    by_offset = api.list_users(search=f"page-{tag}", limit=2, offset=4)
    assert len(by_offset) == 1

    assert {u["email"] for u in api.iter_users(search=f"page-{tag}", page_size=2)} == emails
    exact = api.list_users(email=sorted(emails)[0])
    assert [u["email"] for u in exact] == [sorted(emails)[0]]
    assert api.list_users(search=f"page-{tag}", email_verified=False).total == 0
    assert api.list_users(search=f"page-{tag}", is_active=True).total == 5


def test_sessions_grants_and_user_audit_events(
    live_idp: LiveIdP, api: ManagementClient, require
) -> None:
    require("GET /users/{user_id}/sessions", "DELETE /users/{user_id}/sessions/{session_id}")
    require("DELETE /users/{user_id}/sessions", "GET /users/{user_id}/grants")
    require("DELETE /users/{user_id}/grants", "GET /users/{user_id}/audit-events")
    require("POST /clients")
    email = _email()
    user = api.create_user(email, password=PASSWORD, email_verified=True)
    _session_and_grant(live_idp, api, email)
    _session_and_grant(live_idp, api, email)

    grants = api.list_user_grants(user["id"])
    assert grants.total >= 1 and grants.items[0]["client_id"]
    assert api.revoke_user_grants(user["id"]) == grants.total
    assert api.list_user_grants(user["id"]).total == 0
    assert api.list_user_grants(user["id"], include_revoked=True).total == grants.total

    sessions = api.list_user_sessions(user["id"])
    assert sessions.total == 2 and len(sessions.items) == 2
    api.revoke_user_session(user["id"], sessions.items[0]["id"])
    assert api.list_user_sessions(user["id"]).total == 1
    assert api.list_user_sessions(user["id"], include_revoked=True).total == 2
    assert api.revoke_user_sessions(user["id"]) == 1
    assert api.list_user_sessions(user["id"]).total == 0

    events = api.list_user_audit_events(user["id"], limit=2)
    assert events.total >= 2 and len(events.items) == 2
    every = list(api.iter_user_audit_events(user["id"], page_size=2))
    assert len(every) == events.total
    assert len({e["id"] for e in every}) == len(every)


# --- clients -------------------------------------------------------------------------------


def test_client_lifecycle(api: ManagementClient, require) -> None:
    require("POST /clients", "GET /clients", "GET /clients/{client_id}")
    require("PATCH /clients/{client_id}", "DELETE /clients/{client_id}")
    require("POST /clients/{client_id}/secret")
    created = api.create_client(
        "Client Lib RP", redirect_uris=["https://rp.example.com/cb"], scopes=["openid", "email"]
    )
    client_id = created["client_id"]
    assert created["client_secret"] and created["public"] is False
    assert "client_secret" not in api.get_client(client_id)

    renamed = api.update_client(client_id, name="Renamed RP")
    assert renamed["name"] == "Renamed RP"
    rotated = api.rotate_client_secret(client_id)
    assert rotated["client_id"] == client_id
    assert rotated["client_secret"] and rotated["client_secret"] != created["client_secret"]

    listed = api.list_clients(search="Renamed RP")
    assert client_id in {c["client_id"] for c in listed}
    assert client_id in {c["client_id"] for c in api.iter_clients(page_size=1)}

    api.delete_client(client_id)
    with pytest.raises(ManagementApiError) as caught:
        api.get_client(client_id)
    assert caught.value.status == 404


# --- api keys ------------------------------------------------------------------------------


def test_api_key_lifecycle(live_idp: LiveIdP, api: ManagementClient, require) -> None:
    require(
        "POST /api-keys", "GET /api-keys", "GET /api-keys/{key_id}", "DELETE /api-keys/{key_id}"
    )
    created = api.create_api_key("reader", ["users:read"])
    assert created["key"].startswith(created["prefix"]) and created["scopes"] == ["users:read"]
    assert "key" not in api.get_api_key(created["id"])
    assert created["id"] in {k["id"] for k in api.iter_api_keys(page_size=1)}
    assert api.list_api_keys(limit=1).total >= 1

    reader = ManagementClient(live_idp.base_url, api_key=created["key"])
    with pytest.raises(ManagementApiError) as forbidden:
        reader.list_api_keys()
    assert forbidden.value.status == 403 and "api-keys:read" in (forbidden.value.detail or "")

    api.revoke_api_key(created["id"])
    with pytest.raises(ManagementApiError) as refused:
        reader.list_api_keys()
    assert refused.value.status == 401


def test_api_key_restricted_to_an_application(live_idp: LiveIdP, api: ManagementClient) -> None:
    app = api.create_client("Restricted App", redirect_uris=["https://app.example.com/cb"])
    other = api.create_client("Other App", redirect_uris=["https://other.example.com/cb"])
    created = api.create_api_key("app", ["clients:read"], application=app["client_id"])
    assert created["application"] == app["client_id"]
    assert api.get_api_key(created["id"])["application"] == app["client_id"]

    with ManagementClient(live_idp.base_url, api_key=created["key"]) as restricted:
        assert restricted.get_client(app["client_id"])["name"] == "Restricted App"
        for call in (lambda: restricted.get_client(other["client_id"]), restricted.list_clients):
            with pytest.raises(ManagementApiError) as refused:
                call()
            assert refused.value.status == 403
            assert app["client_id"] in (refused.value.detail or "")

    with pytest.raises(ManagementApiError) as unknown:
        api.create_api_key("app", ["clients:read"], application="no-such-client")
    assert unknown.value.status == 422


# --- tenants -------------------------------------------------------------------------------


def test_tenants_and_acting_on_one(api: ManagementClient, require) -> None:
    require(
        "POST /tenants", "GET /tenants", "GET /tenants/{tenant_id}", "PATCH /tenants/{tenant_id}"
    )
    require("POST /users", "GET /users")
    slug = f"t-{secrets.token_hex(4)}"
    tenant = api.create_tenant(slug, "Client Tenant")
    assert tenant["slug"] == slug and tenant["id"]
    assert api.get_tenant(tenant["id"])["name"] == "Client Tenant"
    assert api.update_tenant(tenant["id"], name="Renamed Tenant")["name"] == "Renamed Tenant"
    assert tenant["id"] in {t["id"] for t in api.iter_tenants(page_size=1)}
    assert api.list_tenants(limit=1).total >= 2

    other = api.for_tenant(slug)
    email = _email()
    other.create_user(email)
    assert [u["email"] for u in other.list_users(email=email)] == [email]
    assert api.list_users(email=email).total == 0  # the default tenant does not see it


# --- audit events and stats ----------------------------------------------------------------


def test_audit_events_and_stats(api: ManagementClient, require) -> None:
    require("GET /audit-events", "GET /stats", "POST /users")
    user = api.create_user(_email())
    page = api.list_audit_events(user_id=user["id"], limit=1)
    assert page.total >= 1 and len(page) == 1
    event = page.items[0]
    assert event["event_type"]
    same_type = api.list_audit_events(event_type=event["event_type"], limit=5)
    assert all(e["event_type"] == event["event_type"] for e in same_type)
    everything = list(api.iter_audit_events(page_size=3))
    assert len(everything) == api.list_audit_events().total
    assert len({e["id"] for e in everything}) == len(everything)
    assert api.list_audit_events(from_="2999-01-01T00:00:00+00:00").total == 0

    stats = api.get_stats()
    assert stats["users"]["total"] >= 1


# --- errors --------------------------------------------------------------------------------


def test_errors_are_parsed_from_problem_details(
    live_idp: LiveIdP, api: ManagementClient, require
) -> None:
    require("GET /users/{user_id}", "POST /users")
    with pytest.raises(ManagementApiError) as not_found:
        api.get_user("no-such-user")
    error = not_found.value
    assert error.status == 404 and error.title and error.detail and error.type
    assert str(error).startswith("404 ")

    with pytest.raises(ManagementApiError) as invalid:
        api.create_user("not an e-mail address")
    error = invalid.value
    assert error.status == 422 and error.title and error.detail
    assert "email" in error.errors

    with pytest.raises(ManagementApiError) as unauthenticated:
        ManagementClient(live_idp.base_url, api_key="idp_wrong").list_api_keys()
    assert unauthenticated.value.status == 401

    with pytest.raises(ManagementApiError) as unknown_tenant:
        api.for_tenant("no-such-tenant").list_api_keys()
    assert unknown_tenant.value.status == 404


def test_non_json_error_bodies_do_not_break_the_client(live_idp: LiveIdP) -> None:
    class Plain:
        status_code = 502
        reason = "Bad Gateway"
        text = "<html>upstream down</html>"
        content = text.encode()

        def json(self) -> Any:
            raise ValueError("not JSON")

    error = ManagementApiError.from_response(Plain())
    assert error.status == 502 and error.title == "Bad Gateway"
    assert error.detail == "<html>upstream down</html>" and error.errors == {}


# --- MFA enrolments and linked identities --------------------------------------------------


def _enrol_totp(live_idp: LiveIdP, email: str) -> None:
    """Sign in as the user and turn on an authenticator app through /account/v1."""
    import pyotp

    with requests.Session() as browser:
        login = browser.get(live_idp.url("/login"), timeout=TIMEOUT)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token, login.text
        signed_in = browser.post(
            live_idp.url("/login"),
            data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert signed_in.status_code == 303, signed_in.text
        headers = {"X-CSRFToken": token.group(1)}
        setup = browser.post(live_idp.url("/account/v1/mfa/totp"), headers=headers, timeout=TIMEOUT)
        assert setup.status_code == 200, setup.text
        code = pyotp.TOTP(setup.json()["secret"]).now()
        verified = browser.post(
            live_idp.url("/account/v1/mfa/totp/verify"),
            json={"code": code},
            headers=headers,
            timeout=TIMEOUT,
        )
        assert verified.status_code == 200, verified.text


def _link_identity(live_idp: LiveIdP, user: JSON, provider: str) -> str:
    """Federation (a later issue) is what links identities; until it exists the row is
    written straight into the server's database."""
    from sqlalchemy import create_engine
    from sqlalchemy import text

    identity_id = str(uuid.uuid4())
    engine = create_engine(live_idp.env["IDP_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO identities (id, tenant_id, user_id, provider, subject, email, "
                "claims, created_at) VALUES (:id, :tenant, :user, :provider, :subject, :email, "
                "'{}', CURRENT_TIMESTAMP)"
            ),
            {
                "id": identity_id,
                "tenant": connection.execute(
                    text("SELECT tenant_id FROM users WHERE id = :id"), {"id": user["id"]}
                ).scalar_one(),
                "user": user["id"],
                "provider": provider,
                "subject": secrets.token_hex(8),
                "email": user["email"],
            },
        )
    engine.dispose()
    return identity_id


def test_user_mfa_and_identities(live_idp: LiveIdP, api: ManagementClient, require) -> None:
    require("GET /users/{user_id}/mfa", "DELETE /users/{user_id}/mfa")
    require("DELETE /users/{user_id}/mfa/{method}", "GET /users/{user_id}/identities")
    require("DELETE /users/{user_id}/identities/{identity_id}", "POST /users", "GET /stats")
    email = _email()
    user = api.create_user(email, password=PASSWORD, email_verified=True)
    before = api.get_stats()["users"]["mfa_enabled"]
    _enrol_totp(live_idp, email)

    enrolments = api.list_user_mfa(user["id"])
    assert isinstance(enrolments, Page) and enrolments.total == 2
    by_method = {e["method"]: e for e in enrolments}
    assert by_method["totp"]["confirmed"] is True
    assert by_method["backup_codes"]["remaining"] == 10
    assert api.get_stats()["users"]["mfa_enabled"] == before + 1
    assert api.reset_user_mfa(user["id"], "backup_codes") == 1
    assert [e["method"] for e in api.list_user_mfa(user["id"])] == ["totp"]
    with pytest.raises(ManagementApiError) as unknown:
        api.reset_user_mfa(user["id"], "sms")
    assert unknown.value.status == 404
    assert api.reset_user_mfa(user["id"]) == 1
    assert api.list_user_mfa(user["id"]).total == 0

    provider = f"oidc-{secrets.token_hex(3)}"
    identity_id = _link_identity(live_idp, user, provider)
    assert [u["id"] for u in api.list_users(provider=provider)] == [user["id"]]
    identities = api.list_user_identities(user["id"])
    assert [i["id"] for i in identities] == [identity_id]
    assert identities.items[0]["provider"] == provider
    api.unlink_user_identity(user["id"], identity_id)  # the password is left
    assert api.list_user_identities(user["id"]).total == 0
    assert api.list_users(provider=provider).total == 0

    passwordless = api.create_user(_email())
    last = _link_identity(live_idp, passwordless, provider)
    with pytest.raises(ManagementApiError) as conflict:
        api.unlink_user_identity(passwordless["id"], last)
    assert conflict.value.status == 409
    api.unlink_user_identity(passwordless["id"], last, force=True)
    assert api.list_user_identities(passwordless["id"]).total == 0
