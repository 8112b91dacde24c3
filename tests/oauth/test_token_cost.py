"""A token request costs one signature per token and one write transaction (issue #3)."""

from __future__ import annotations

import re
from contextlib import contextmanager

from sqlalchemy import event

from idp.extensions import db
from idp.oauth import tokens
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorize
from tests.flow import client_auth
from tests.flow import exchange
from tests.flow import refresh

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)", re.IGNORECASE)


@contextmanager
def counting(app, monkeypatch):
    counts = {"signatures": 0, "writes": 0, "statements": 0, "commits": 0}
    real_sign = tokens.sign

    def sign(*args, **kwargs):
        counts["signatures"] += 1
        return real_sign(*args, **kwargs)

    def on_execute(conn, cursor, statement, *args):
        counts["statements"] += 1
        counts["writes"] += bool(WRITE.match(statement))

    def on_commit(conn):
        counts["commits"] += 1

    monkeypatch.setattr(tokens, "sign", sign)
    with app.app_context():
        engine = db.engine
    app.test_client().get("/jwks.json")  # the key ring is loaded once per process, not per request
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


def test_client_credentials_costs_one_signature_and_no_write(app, client, monkeypatch):
    rp = make_client(app, grant_types=["client_credentials"], redirect_uri=None)
    with counting(app, monkeypatch) as counts:
        response = client.post(
            "/token", data={"grant_type": "client_credentials"}, headers=client_auth(rp)
        )
    assert response.status_code == 200
    assert counts["signatures"] == 1
    assert counts["writes"] == 0
    assert counts["statements"] <= 1  # the client lookup


def test_refresh_costs_one_signature_and_one_write_transaction(app, client, monkeypatch):
    user = make_user(app)
    rp = make_client(app, grant_types=["authorization_code", "refresh_token"], skip_consent=True)
    auth = authorize(client, rp, user)
    first = exchange(client, rp, auth.code, auth.verifier).get_json()
    with counting(app, monkeypatch) as counts:
        response = refresh(client, rp, first["refresh_token"])
    assert response.status_code == 200
    assert counts["signatures"] == 1
    assert counts["commits"] == 1
    assert counts["writes"] == 2  # retire the old token and store its successor, atomically


def test_code_exchange_signs_the_access_and_id_tokens_once_each(app, client, monkeypatch):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    auth = authorize(client, rp, user)
    with counting(app, monkeypatch) as counts:
        response = exchange(client, rp, auth.code, auth.verifier)
    assert response.status_code == 200
    assert counts["signatures"] == 2
    assert counts["commits"] == 1
    assert counts["writes"] == 1  # the code is marked used
