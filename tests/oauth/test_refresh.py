"""Refresh tokens: rotation on every use, reuse detection, grace window, scope, lifetimes
(RFC 6749 §6, RFC 9700 §4.14, OIDC Core §11)."""

from __future__ import annotations

import threading

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import Client
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorize
from tests.flow import exchange
from tests.flow import refresh

REFRESHABLE = ["authorization_code", "refresh_token"]


def _tokens(app, client, *, scope="openid email offline_access", **client_options):
    user = make_user(app)
    rp = make_client(app, grant_types=REFRESHABLE, skip_consent=True, **client_options)
    auth = authorize(client, rp, user, scope=scope)
    body = exchange(client, rp, auth.code, auth.verifier).get_json()
    assert "refresh_token" in body, body
    return user, rp, body


def _userinfo(client, access_token):
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_refresh_rotates_the_refresh_token_on_every_use(app, client):
    _, rp, first = _tokens(app, client)
    second = refresh(client, rp, first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.get_json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert body["scope"] == "openid email offline_access"
    assert _userinfo(client, body["access_token"]).status_code == 200
    third = refresh(client, rp, body["refresh_token"])
    assert third.status_code == 200


def test_reuse_after_the_grace_window_revokes_the_whole_family(app, client, frozen_clock):
    _, rp, first = _tokens(app, client)
    second = refresh(client, rp, first["refresh_token"]).get_json()
    frozen_clock.advance(seconds=6)
    replay = refresh(client, rp, first["refresh_token"])
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    # the attacker's or the victim's successor is dead too, and so are the access tokens
    assert refresh(client, rp, second["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _userinfo(client, second["access_token"]).status_code == 401
    assert _userinfo(client, first["access_token"]).status_code == 401
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent.event_type).where(AuditEvent.status == "failure")
        ).all()
    assert "refresh_token.reused" in events


def test_reuse_within_the_grace_window_returns_the_same_successor(app, client, frozen_clock):
    _, rp, first = _tokens(app, client)
    second = refresh(client, rp, first["refresh_token"]).get_json()
    frozen_clock.advance(seconds=2)
    again = refresh(client, rp, first["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.get_json()["refresh_token"] == second["refresh_token"]
    assert refresh(client, rp, second["refresh_token"]).status_code == 200  # family intact


def test_grace_does_not_apply_once_the_successor_was_used(app, client, frozen_clock):
    _, rp, first = _tokens(app, client)
    second = refresh(client, rp, first["refresh_token"]).get_json()
    refresh(client, rp, second["refresh_token"])
    frozen_clock.advance(seconds=1)
    assert refresh(client, rp, first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_another_client_cannot_use_the_refresh_token(app, client):
    _, _, first = _tokens(app, client)
    other = make_client(app, grant_types=REFRESHABLE, redirect_uri="https://b.example.com/cb")
    response = refresh(client, other, first["refresh_token"])
    assert response.get_json()["error"] == "invalid_grant"


def test_scope_may_be_narrowed_but_never_widened(app, client):
    _, rp, first = _tokens(app, client, scope="openid email offline_access")
    narrowed = refresh(client, rp, first["refresh_token"], scope="openid")
    assert narrowed.status_code == 200
    body = narrowed.get_json()
    assert body["scope"] == "openid"
    assert "email" not in _userinfo(client, body["access_token"]).get_json()
    # the successor keeps the original scope (RFC 6749 §6)
    wide = refresh(client, rp, body["refresh_token"], scope="openid email")
    assert wide.status_code == 200
    widened = refresh(client, rp, wide.get_json()["refresh_token"], scope="openid profile")
    assert widened.get_json()["error"] == "invalid_scope"


def test_refresh_token_expires_after_its_idle_lifetime(app, client, frozen_clock):
    _, rp, first = _tokens(app, client)
    with app.app_context():
        db.session.execute(db.update(Client).values(refresh_token_lifetime=600))
        db.session.commit()
    frozen_clock.advance(seconds=500)
    second = refresh(client, rp, first["refresh_token"])
    assert second.status_code == 200  # in time; the new one slides forward
    frozen_clock.advance(seconds=500)
    third = refresh(client, rp, second.get_json()["refresh_token"])
    assert third.status_code == 200
    frozen_clock.advance(seconds=601)
    assert refresh(client, rp, third.get_json()["refresh_token"]).status_code == 400


def test_refresh_never_outlives_the_absolute_lifetime(app, client, frozen_clock):
    _, rp, first = _tokens(
        app,
        client,
    )
    with app.app_context():
        db.session.execute(
            db.update(Client).values(
                refresh_token_lifetime=600, refresh_token_absolute_lifetime=1000
            )
        )
        db.session.commit()
    token = first["refresh_token"]
    frozen_clock.advance(seconds=500)
    token = refresh(client, rp, token).get_json()["refresh_token"]
    frozen_clock.advance(seconds=450)  # 950 s since sign-in
    token = refresh(client, rp, token).get_json()["refresh_token"]
    frozen_clock.advance(seconds=100)  # 1050 s: past the absolute limit, inside the idle one
    assert refresh(client, rp, token).get_json()["error"] == "invalid_grant"


def test_public_client_refreshes_with_client_id_only(app, client):
    user = make_user(app)
    rp = make_client(app, public=True, grant_types=REFRESHABLE, skip_consent=True)
    auth = authorize(client, rp, user, scope="openid offline_access")
    body = exchange(client, rp, auth.code, auth.verifier).get_json()
    assert refresh(client, rp, body["refresh_token"]).status_code == 200


def test_refreshed_access_token_keeps_the_session_and_grant(app, client):
    _, rp, first = _tokens(app, client)
    body = refresh(client, rp, first["refresh_token"]).get_json()
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    before = jwt.decode(first["access_token"], keys).claims
    after = jwt.decode(body["access_token"], keys).claims
    assert after["grant_id"] == before["grant_id"] and after["sid"] == before["sid"]
    assert after["auth_time"] == before["auth_time"]


def test_blocked_user_cannot_refresh(app, client):
    user, rp, first = _tokens(app, client)
    with app.app_context():
        from idp.models import User

        db.session.get(User, user.id).blocked_reason = "stolen laptop"
        db.session.commit()
    assert refresh(client, rp, first["refresh_token"]).status_code == 400


def test_unknown_and_malformed_refresh_tokens_are_invalid_grant(app, client):
    _, rp, _ = _tokens(app, client)
    for value in ("nope", "x" * 5000, "é"):
        response = refresh(client, rp, value)
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_concurrent_refreshes_yield_at_most_one_new_token(app):
    _, rp, first = _tokens(app, app.test_client())
    results: list = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        http = app.test_client()
        barrier.wait()
        results.append(refresh(http, rp, first["refresh_token"]))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code in (200, 400) for r in results), [r.text for r in results]
    issued = {r.get_json()["refresh_token"] for r in results if r.status_code == 200}
    assert len(issued) <= 1
    # the losers were inside the grace window: they get the winner's successor, not an error
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    with app.app_context():
        from idp.models import RefreshToken

        assert db.session.scalar(select(db.func.count()).select_from(RefreshToken)) == 2
