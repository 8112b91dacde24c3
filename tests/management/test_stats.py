"""/management/v1/stats: user counts and sign-ins over 1, 7 and 30 days, per tenant."""

from __future__ import annotations

from datetime import timedelta

from idp.extensions import db
from idp.services import audit
from idp.services import tenants
from tests import flow
from tests.factories import make_api_key
from tests.factories import make_tenant
from tests.factories import make_user

URL = "/management/v1/stats"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sign_in(app, user_id: str, *, slug: str = "default", status: str = "success") -> None:
    """What a password sign-in leaves in the trail: login.password, then session.started."""
    with app.app_context():
        tenant_id = tenants.get_by_slug(slug).id
        audit.record("login.password", status=status, tenant_id=tenant_id, user_id=user_id)
        if status == "success":
            audit.record("session.started", tenant_id=tenant_id, user_id=user_id)
        db.session.commit()


def test_empty_tenant_has_zero_counts(app, client):
    response = client.get(URL, headers=bearer(make_api_key(app, "stats:read")))
    assert response.status_code == 200
    zero = {"1d": 0, "7d": 0, "30d": 0}
    assert response.get_json() == {
        "users": {"total": 0, "active": 0, "verified": 0, "mfa_enabled": 0},
        "sign_ins": zero,
        "unique_users": zero,
    }


def test_user_counts(app, client):
    make_user(app, "a@example.com")
    make_user(app, "b@example.com", email_verified=False)
    make_user(app, "c@example.com", is_active=False)
    make_user(app, "d@example.com", blocked_reason="abuse")
    make_tenant(app, "acme")
    make_user(app, "e@example.com", tenant_slug="acme")
    body = client.get(URL, headers=bearer(make_api_key(app, "stats:read"))).get_json()
    assert body["users"] == {"total": 4, "active": 2, "verified": 3, "mfa_enabled": 0}


def test_sign_ins_and_unique_users_over_windows(app, client, frozen_clock):
    now = frozen_clock.current
    make_tenant(app, "acme")
    frozen_clock.current = now - timedelta(days=20)
    sign_in(app, "u1")
    frozen_clock.current = now - timedelta(days=3)
    sign_in(app, "u2")
    sign_in(app, "u2")
    frozen_clock.current = now - timedelta(hours=1)
    sign_in(app, "u1")
    sign_in(app, "u3", status="failure")
    sign_in(app, "x1", slug="acme")
    frozen_clock.current = now - timedelta(days=31)
    sign_in(app, "u9")
    frozen_clock.current = now
    body = client.get(URL, headers=bearer(make_api_key(app, "stats:read"))).get_json()
    assert body["sign_ins"] == {"1d": 1, "7d": 3, "30d": 4}
    assert body["unique_users"] == {"1d": 1, "7d": 2, "30d": 2}
    acme = make_api_key(app, "stats:read", tenant_slug="acme")
    assert client.get(URL, headers=bearer(acme)).get_json()["sign_ins"]["1d"] == 1


def test_a_real_password_sign_in_counts_once(app, client, frozen_clock):
    user = make_user(app)
    assert flow.sign_in(client, "/login", user.email, user.password).status_code == 303
    body = client.get(URL, headers=bearer(make_api_key(app, "stats:read"))).get_json()
    assert body["sign_ins"]["1d"] == 1 and body["unique_users"]["1d"] == 1


def test_credentials_and_scope_are_required(app, client):
    assert client.get(URL).status_code == 401
    response = client.get(URL, headers=bearer(make_api_key(app, "audit:read")))
    assert response.status_code == 403 and "stats:read" in response.get_json()["detail"]
