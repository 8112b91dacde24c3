"""/management/v1/users/{id}/mfa: list a user's MFA enrolments, reset all or one method;
scopes, tenants, audit; the MFA count of the stats."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import BackupCode
from idp.models import TotpCredential
from idp.models import User
from idp.models import WebAuthnCredential
from idp.services import audit
from idp.services import backup_codes
from idp.services import mfa
from idp.services import totp
from tests.factories import MadeUser
from tests.factories import make_api_key
from tests.factories import make_tenant
from tests.factories import make_user
from tests.flow import sign_in

URL = "/management/v1/users"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin(app) -> dict[str, str]:
    return bearer(make_api_key(app, "*"))


def enrol_totp(app: Flask, user: MadeUser, now, *, confirm: bool = True) -> list[str]:
    with app.app_context():
        row = db.session.get(User, user.id)
        setup = totp.begin_setup(row, issuer_name="Test", actor=audit.SYSTEM)
        codes = []
        if confirm:
            code = pyotp.TOTP(setup.secret).at(now)
            codes = totp.confirm(row, code, actor=audit.SYSTEM)
        db.session.commit()
    return codes


def add_passkey(app: Flask, user: MadeUser, name: str = "YubiKey", **fields: object) -> str:
    with app.app_context():
        credential = WebAuthnCredential(
            tenant_id=user.tenant_id,
            user_id=user.id,
            credential_id=uuid.uuid4().hex,
            public_key=b"key",
            name=name,
            **fields,
        )
        db.session.add(credential)
        db.session.commit()
        return credential.id


def use_backup_code(app: Flask, user: MadeUser, code: str) -> None:
    with app.app_context():
        assert backup_codes.use(db.session.get(User, user.id), code)
        db.session.commit()


def methods(app: Flask, user: MadeUser) -> list[str]:
    with app.app_context():
        return mfa.methods(db.session.get(User, user.id))


def test_lists_every_enrolment(app, client, admin, frozen_clock):
    user = make_user(app)
    codes = enrol_totp(app, user, frozen_clock.current)
    frozen_clock.advance(minutes=1)
    key = add_passkey(app, user, "Blue key", last_used_at=frozen_clock.current)
    use_backup_code(app, user, codes[0])

    response = client.get(f"{URL}/{user.id}/mfa", headers=admin)

    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["total"] == 3
    by_method = {e["method"]: e for e in body["items"]}
    assert by_method["totp"]["confirmed"] is True and by_method["totp"]["id"]
    assert by_method["totp"]["last_used_at"]  # the step of the confirming code
    assert by_method["totp"]["remaining"] is None
    assert by_method["webauthn"]["id"] == key and by_method["webauthn"]["name"] == "Blue key"
    assert by_method["webauthn"]["last_used_at"]
    assert by_method["backup_codes"]["id"] is None
    assert by_method["backup_codes"]["remaining"] == 9
    assert by_method["backup_codes"]["last_used_at"]


def test_an_unconfirmed_setup_is_listed_as_such(app, client, admin, frozen_clock):
    user = make_user(app)
    enrol_totp(app, user, frozen_clock.current, confirm=False)

    items = client.get(f"{URL}/{user.id}/mfa", headers=admin).get_json()["items"]

    assert [(e["method"], e["confirmed"], e["last_used_at"]) for e in items] == [
        ("totp", False, None)
    ]


def test_a_user_without_mfa_has_an_empty_list(app, client, admin):
    user = make_user(app)
    assert client.get(f"{URL}/{user.id}/mfa", headers=admin).get_json() == {
        "items": [],
        "total": 0,
    }


def test_reset_all_removes_everything_and_sign_in_needs_only_the_password(
    app, client, admin, frozen_clock
):
    user = make_user(app)
    enrol_totp(app, user, frozen_clock.current)
    add_passkey(app, user)
    add_passkey(app, user, "Second key")
    assert (
        sign_in(app.test_client(), "/login", user.email, user.password).headers["Location"]
        == "/login/mfa"
    )

    response = client.delete(f"{URL}/{user.id}/mfa", headers=admin)

    assert response.status_code == 200, response.text
    assert response.get_json() == {"removed": 4}  # app, two keys, the backup-code set
    assert methods(app, user) == []
    with app.app_context():
        assert db.session.scalars(select(BackupCode)).all() == []
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "mfa.reset")
        ).one()
        assert event.actor_type == "api_key" and event.user_id == user.id
        assert event.details["removed"] == 4
    assert (
        sign_in(app.test_client(), "/login", user.email, user.password).headers["Location"] == "/"
    )
    again = client.delete(f"{URL}/{user.id}/mfa", headers=admin)
    assert again.get_json() == {"removed": 0}


@pytest.mark.parametrize(
    ("method", "left"),
    [("totp", ["webauthn", "backup_codes"]), ("webauthn", ["totp", "backup_codes"]),
     ("backup_codes", ["totp", "webauthn"])],
)  # fmt: skip
def test_reset_one_method_leaves_the_others(app, client, admin, frozen_clock, method, left):
    user = make_user(app)
    enrol_totp(app, user, frozen_clock.current)
    add_passkey(app, user)

    response = client.delete(f"{URL}/{user.id}/mfa/{method}", headers=admin)

    assert response.status_code == 200, response.text
    assert response.get_json() == {"removed": 1}
    assert methods(app, user) == left


def test_resetting_the_app_lets_the_user_set_it_up_again(app, client, admin, frozen_clock):
    user = make_user(app)
    enrol_totp(app, user, frozen_clock.current)
    client.delete(f"{URL}/{user.id}/mfa/totp", headers=admin)
    with app.app_context():
        assert db.session.scalars(select(TotpCredential)).all() == []
    frozen_clock.advance(seconds=60)
    enrol_totp(app, user, frozen_clock.current)
    assert "totp" in methods(app, user)


@pytest.mark.parametrize("method", ["sms", "TOTP", "x" * 300])
def test_an_unknown_method_is_404(app, client, admin, frozen_clock, method):
    user = make_user(app)
    enrol_totp(app, user, frozen_clock.current)

    response = client.delete(f"{URL}/{user.id}/mfa/{method}", headers=admin)

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert methods(app, user) == ["totp", "backup_codes"]


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/mfa"), ("delete", "/mfa"), ("delete", "/mfa/totp")]
)
def test_another_tenants_user_is_404(app, client, admin, frozen_clock, method, path):
    make_tenant(app, "acme")
    stranger = make_user(app, "eve@acme.example", tenant_slug="acme")
    enrol_totp(app, stranger, frozen_clock.current)
    for user_id in (stranger.id, str(uuid.uuid4())):
        response = getattr(client, method)(f"{URL}/{user_id}{path}", headers=admin)
        assert response.status_code == 404
    assert methods(app, stranger) == ["totp", "backup_codes"]


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [("get", "/mfa", "users:read"), ("delete", "/mfa", "users:write"),
     ("delete", "/mfa/totp", "users:write")],
)  # fmt: skip
def test_each_endpoint_needs_its_scope(app, client, method, path, scope):
    user = make_user(app)
    url = f"{URL}/{user.id}{path}"
    assert getattr(client, method)(url).status_code == 401
    wrong = "users:read" if scope == "users:write" else "sessions:read"
    response = getattr(client, method)(url, headers=bearer(make_api_key(app, wrong)))
    assert response.status_code == 403 and scope in response.get_json()["detail"]
    assert getattr(client, method)(url, headers=bearer(make_api_key(app, scope))).status_code == 200


def test_stats_count_users_with_an_app_or_a_passkey(app, client, admin, frozen_clock):
    with_app = make_user(app, "app@example.com")
    with_key = make_user(app, "key@example.com")
    pending = make_user(app, "pending@example.com")
    make_user(app, "none@example.com")
    enrol_totp(app, with_app, frozen_clock.current)
    add_passkey(app, with_key)
    enrol_totp(app, pending, frozen_clock.current - timedelta(minutes=5), confirm=False)
    make_tenant(app, "acme")
    add_passkey(app, make_user(app, "eve@acme.example", tenant_slug="acme"))
    stats = bearer(make_api_key(app, "stats:read"))

    users = client.get("/management/v1/stats", headers=stats).get_json()["users"]

    assert users["total"] == 4 and users["mfa_enabled"] == 2
    client.delete(f"{URL}/{with_key.id}/mfa", headers=admin)
    assert client.get("/management/v1/stats", headers=stats).get_json()["users"]["mfa_enabled"] == 1
