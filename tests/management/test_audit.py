"""/management/v1/audit-events: the tenant's trail, newest first, filtered, keyset-paged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idp import clock
from idp.extensions import db
from idp.services import audit
from idp.services import tenants
from tests.factories import make_api_key
from tests.factories import make_tenant

URL = "/management/v1/audit-events"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def record(app, event_type: str, *, slug: str = "default", **fields) -> None:
    with app.app_context():
        audit.record(event_type, tenant_id=tenants.get_by_slug(slug).id, **fields)
        db.session.commit()


def events(http, key: str, **query) -> dict:
    response = http.get(URL, query_string=query, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.get_json()


def test_events_come_newest_first_and_cursor_walks_each_once(app, client, frozen_clock):
    key = make_api_key(app, "audit:read")
    for i in range(9):
        record(app, "test.event", n=i)
        if i % 3 == 2:
            frozen_clock.advance(seconds=1)  # three events share each timestamp
    seen: list[int] = []
    cursor = None
    while True:
        page = events(
            client, key, event_type="test.event", limit=2, **({"cursor": cursor} if cursor else {})
        )
        assert page["total"] == 9
        seen += [e["details"]["n"] for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == list(range(8, -1, -1))


def test_filters_narrow_the_list(app, client, frozen_clock):
    key = make_api_key(app, "audit:read")
    start = clock.now()
    record(app, "login.password", status="failure", user_id="u1")
    frozen_clock.advance(hours=1)
    record(app, "login.password", user_id="u1")
    record(app, "client.updated", client_id="c1")
    frozen_clock.advance(hours=1)
    record(app, "login.password", user_id="u2")
    assert events(client, key, event_type="login.password")["total"] == 3
    assert events(client, key, event_type="login.password", status="failure")["total"] == 1
    assert events(client, key, user_id="u1")["total"] == 2
    assert [e["event_type"] for e in events(client, key, client_id="c1")["items"]] == [
        "client.updated"
    ]
    one_hour = (start + timedelta(hours=1)).isoformat()
    two_hours = (start + timedelta(hours=2)).isoformat()
    window = events(client, key, **{"from": one_hour, "to": two_hours})
    assert {e["event_type"] for e in window["items"]} == {"login.password", "client.updated"}
    assert window["total"] == 2
    naive = (start + timedelta(hours=2)).replace(tzinfo=None).isoformat()
    assert events(client, key, user_id="u2", **{"from": naive})["total"] == 1


def test_events_show_who_did_what(app, client):
    key = make_api_key(app, "audit:read", "clients:write")
    client.post(
        "/management/v1/clients",
        json={"name": "x", "redirect_uris": ["https://rp.example.com/cb"]},
        headers={**bearer(key), "User-Agent": "ci/1.0"},
    )
    (event,) = events(client, key, event_type="client.created")["items"]
    assert event["actor_type"] == "api_key" and event["actor_id"]
    assert event["user_agent"] == "ci/1.0" and event["target_type"] == "client"
    assert event["occurred_at"].endswith("+00:00")


def test_other_tenants_events_are_invisible(app, client):
    make_tenant(app, "acme")
    record(app, "secret.thing", slug="acme")
    record(app, "own.thing")
    mine = events(client, make_api_key(app, "audit:read"))
    assert "secret.thing" not in {e["event_type"] for e in mine["items"]}
    assert "own.thing" in {e["event_type"] for e in mine["items"]}
    theirs = events(client, make_api_key(app, "audit:read", tenant_slug="acme"))
    assert "own.thing" not in {e["event_type"] for e in theirs["items"]}


@pytest.mark.parametrize(
    "query",
    [
        {"from": "yesterday"},
        {"to": "2026-13-01T00:00:00Z"},
        {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"cursor": "%%%"},
        {"cursor": "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwieCJd"},  # id of the wrong type
        {"limit": 0},
        {"event_type": "x" * 65},
        {"user_id": "x" * 37},
    ],
)
def test_bad_queries_are_422(app, client, query):
    key = make_api_key(app, "audit:read")
    response = client.get(URL, query_string=query, headers=bearer(key))
    assert response.status_code == 422, response.text
    assert response.mimetype == "application/problem+json"


def test_credentials_and_scope_are_required(app, client):
    assert client.get(URL).status_code == 401
    response = client.get(URL, headers=bearer(make_api_key(app, "users:read")))
    assert response.status_code == 403 and "audit:read" in response.get_json()["detail"]
