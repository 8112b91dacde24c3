"""/account/v1/subscription: the user's plan for the calling application."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idp import clock
from idp import errors
from idp.extensions import db
from idp.models import User
from idp.services import clients
from idp.services import subscriptions
from tests.accounts import account_token
from tests.accounts import signed_in
from tests.factories import MadeClient
from tests.factories import make_client
from tests.factories import make_tenant
from tests.factories import make_user

SCOPES = ["openid", "profile", "email", "account"]


def first_party(app, **options) -> MadeClient:
    return make_client(app, skip_consent=True, scopes=SCOPES, **options)


def subscribe(app, user_id: str, client_id: str, key: str = "pro", **kwargs) -> None:
    with app.app_context():
        client = clients.get_by_client_id(client_id)
        plan = subscriptions.create_plan(client, key, key.title(), features=["export", "api"])
        subscriptions.subscribe(db.session.get(User, user_id), plan, **kwargs)
        db.session.commit()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_reads_its_applications_subscription(app, client):
    user = make_user(app)
    rp = first_party(app)
    end = clock.now().replace(microsecond=0) + timedelta(days=30)
    subscribe(app, user.id, rp.client_id, current_period_end=end)
    token = account_token(app, client, user, client=rp)

    response = client.get("/account/v1/subscription", headers=bearer(token))

    assert response.status_code == 200, response.text
    body = response.json
    assert body["application"] == rp.client_id
    assert body["status"] == "active"
    assert body["plan"]["key"] == "pro"
    assert body["plan"]["features"] == ["export", "api"]
    assert body["current_period_end"].startswith(end.strftime("%Y-%m-%dT%H:%M:%S"))


def test_subscription_past_its_period_reads_as_expired(app, client, frozen_clock):
    user = make_user(app)
    rp = first_party(app)
    subscribe(app, user.id, rp.client_id, current_period_end=clock.now() + timedelta(hours=1))
    token = account_token(app, client, user, client=rp)
    assert client.get("/account/v1/subscription", headers=bearer(token)).json["status"] == (
        "active"
    )

    frozen_clock.advance(minutes=59)  # the access token lives an hour
    response = client.get("/account/v1/subscription", headers=bearer(token))

    assert response.json["status"] == "active"
    frozen_clock.advance(minutes=1)
    token = account_token(app, client, user, client=rp)
    assert client.get("/account/v1/subscription", headers=bearer(token)).json["status"] == (
        "expired"
    )


def test_no_subscription_is_a_problem_404(app, client):
    user = make_user(app)
    rp = first_party(app)
    other = first_party(app, name="Other app")
    subscribe(app, user.id, other.client_id)  # a plan elsewhere does not count
    token = account_token(app, client, user, client=rp)

    response = client.get("/account/v1/subscription", headers=bearer(token))

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["detail"] == "No subscription to this application"


def test_token_cannot_read_another_applications_subscription(app, client):
    user = make_user(app)
    rp = first_party(app)
    other = first_party(app, name="Other app")
    subscribe(app, user.id, other.client_id)
    token = account_token(app, client, user, client=rp)

    response = client.get(
        f"/account/v1/subscription?application={other.client_id}", headers=bearer(token)
    )

    assert response.status_code == 403


def test_session_names_the_application(app, client):
    user = make_user(app)
    rp = first_party(app)
    subscribe(app, user.id, rp.client_id, key="team")
    signed_in(client, user)

    missing = client.get("/account/v1/subscription")
    found = client.get(f"/account/v1/subscription?application={rp.client_id}")

    assert missing.status_code == 422
    assert "application" in missing.json["errors"]
    assert found.status_code == 200
    assert found.json["plan"]["key"] == "team"


@pytest.mark.parametrize("application", ["no-such-app", "x" * 65])
def test_unknown_application_is_refused(app, client, application):
    user = make_user(app)
    signed_in(client, user)

    response = client.get(f"/account/v1/subscription?application={application}")

    assert response.status_code in (404, 422)
    assert response.mimetype == "application/problem+json"


def test_another_tenants_application_is_not_found(app, client):
    make_tenant(app, "acme")
    foreign = first_party(app, tenant_slug="acme")
    user = make_user(app)
    signed_in(client, user)

    response = client.get(f"/account/v1/subscription?application={foreign.client_id}")

    assert response.status_code == 404


def test_unknown_query_parameter_is_refused(app, client):
    user = make_user(app)
    signed_in(client, user)

    response = client.get("/account/v1/subscription?plan=pro")

    assert response.status_code == 422


def test_without_credentials_is_401_with_the_account_realm(client):
    response = client.get("/account/v1/subscription")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="account"'


def test_token_without_account_scope_is_403(app, client):
    user = make_user(app)
    rp = first_party(app)
    token = account_token(app, client, user, scope="profile", client=rp)

    response = client.get("/account/v1/subscription", headers=bearer(token))

    assert response.status_code == 403
    assert "account scope" in response.json["detail"]


def test_plan_keys_are_unique_per_application(app):
    rp = first_party(app)
    with app.app_context():
        client = clients.get_by_client_id(rp.client_id)
        subscriptions.create_plan(client, "pro", "Pro")
        with pytest.raises(errors.Conflict):
            subscriptions.create_plan(client, "pro", "Pro again")
        with pytest.raises(errors.InvalidInput):
            subscriptions.create_plan(client, "Not A Key", "Bad")
