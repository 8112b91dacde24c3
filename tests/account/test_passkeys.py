"""/account/v1/passkeys and the hosted page /account/passkeys: register (with a software
authenticator), list, rename, delete, and the rules around them."""

from __future__ import annotations

import json
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import Identity
from idp.models import User
from idp.models import WebAuthnCredential
from idp.services import passkeys
from tests.accounts import account_token
from tests.accounts import csrf_header
from tests.accounts import signed_in
from tests.factories import MadeUser
from tests.factories import make_user
from tests.flow import csrf_token
from tests.softauthn import SoftAuthenticator
from tests.softauthn import b64url

API = "/account/v1/passkeys"
CHROME_ON_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Mobile Safari/537.36"
)


@pytest.fixture
def user(app: Flask) -> MadeUser:
    return make_user(app)


@pytest.fixture
def browser(client: FlaskClient, user: MadeUser) -> FlaskClient:
    return signed_in(client, user)


class Caller:
    """A caller of the API: the signed-in browser (cookie + X-CSRFToken) or a bearer token."""

    def __init__(self, http: FlaskClient, headers: dict[str, str]) -> None:
        self.http = http
        self.headers = headers

    def options(self) -> dict:
        response = self.http.post(f"{API}/registration-options", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.get_json()

    def register(self, authenticator: SoftAuthenticator, **body: object):
        credential = authenticator.create(self.options())
        return self.http.post(API, json={"credential": credential, **body}, headers=self.headers)

    def call(self, method: str, path: str = "", **kwargs):
        return self.http.open(API + path, method=method, headers=self.headers, **kwargs)


@pytest.fixture
def caller(browser: FlaskClient) -> Caller:
    return Caller(browser, csrf_header(browser))


def events(app: Flask, event_type: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.event_type == event_type)
                .order_by(AuditEvent.occurred_at, AuditEvent.id)
            )
        )


# --- registering ---------------------------------------------------------------------------


def test_registration_options_follow_the_policy(caller, user):
    options = caller.options()
    assert options["rp"] == {"id": "localhost", "name": "Default"}
    assert options["user"]["id"] == b64url(uuid.UUID(user.id).bytes)
    assert options["user"]["name"] == user.email
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["excludeCredentials"] == []
    assert options["extensions"] == {"credProps": True}
    assert options["attestation"] == "none"
    assert len(options["challenge"]) >= 43  # 256 bits


def test_register_a_passkey_and_list_it(app, caller, user):
    caller.headers["User-Agent"] = CHROME_ON_ANDROID
    authenticator = SoftAuthenticator()
    response = caller.register(authenticator)
    assert response.status_code == 201, response.text
    created = response.get_json()
    assert created["name"] == "Passkey on Chrome on Android"
    assert created["credential_id"] == authenticator.id
    assert created["transports"] == ["internal"]
    assert created["discoverable"] is True and created["backed_up"] is False
    assert created["aaguid"] == "00000000-0000-0000-0000-000000000000"
    assert created["last_used_at"] is None

    listed = caller.call("GET").get_json()
    assert listed == {"items": [created]}
    assert caller.call("GET", f"/{created['id']}").get_json() == created
    (event,) = events(app, "passkey.registered")
    assert event.user_id == user.id and event.target_id == created["id"]


def test_registered_passkeys_are_excluded_from_new_options(caller):
    first = SoftAuthenticator()
    caller.register(first, name="Laptop")
    excluded = caller.options()["excludeCredentials"]
    assert [c["id"] for c in excluded] == [first.id]
    assert excluded[0]["transports"] == ["internal"]


def test_discoverable_follows_cred_props_or_the_backup_flag(caller):
    plain = SoftAuthenticator()
    no_props = caller.http.post(
        API,
        json={"credential": plain.create(caller.options(), rk=None)},
        headers=caller.headers,
    )
    assert no_props.get_json()["discoverable"] is False
    synced = SoftAuthenticator(backed_up=True)
    body = caller.http.post(
        API, json={"credential": synced.create(caller.options(), rk=None)}, headers=caller.headers
    ).get_json()
    assert body["discoverable"] is True and body["backed_up"] is True
    key = SoftAuthenticator()
    refused = caller.http.post(
        API, json={"credential": key.create(caller.options(), rk=False)}, headers=caller.headers
    )
    assert refused.get_json()["discoverable"] is False


def test_register_with_an_access_token(app, client, user):
    token = account_token(app, client, user)
    caller = Caller(client, {"Authorization": f"Bearer {token}"})
    response = caller.register(SoftAuthenticator(), name="Security key")
    assert response.status_code == 201, response.text
    assert response.get_json()["name"] == "Security key"


@pytest.mark.parametrize(
    "knobs",
    [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}],
    ids=["other-origin", "other-rp-id"],
)
def test_a_registration_for_another_site_is_refused(app, caller, knobs):
    credential = SoftAuthenticator().create(caller.options(), **knobs)
    response = caller.http.post(API, json={"credential": credential}, headers=caller.headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert "credential" in response.get_json()["errors"]
    assert caller.call("GET").get_json() == {"items": []}
    (event,) = events(app, "passkey.registered")
    assert event.status == "failure"


def test_a_registration_response_works_once(caller):
    credential = SoftAuthenticator().create(caller.options())
    first = caller.http.post(API, json={"credential": credential}, headers=caller.headers)
    assert first.status_code == 201
    again = caller.http.post(API, json={"credential": credential}, headers=caller.headers)
    assert again.status_code == 422 and "expired" in again.get_json()["detail"]


def test_an_expired_registration_challenge_is_refused(caller, frozen_clock):
    options = caller.options()
    frozen_clock.advance(seconds=301)
    credential = SoftAuthenticator().create(options)
    response = caller.http.post(API, json={"credential": credential}, headers=caller.headers)
    assert response.status_code == 422 and "expired" in response.get_json()["detail"]


def test_another_users_registration_challenge_is_refused(app, caller):
    bob = make_user(app, email="bob@example.com")
    bobs_browser = signed_in(app.test_client(), bob)
    bobs_options = Caller(bobs_browser, csrf_header(bobs_browser)).options()
    credential = SoftAuthenticator().create(bobs_options)
    response = caller.http.post(API, json={"credential": credential}, headers=caller.headers)
    assert response.status_code == 422


def test_an_authentication_challenge_cannot_register(app, caller):
    page = caller.http.get("/login")
    login_options = caller.http.post(
        "/login/passkey/options", json={}, headers={"X-CSRFToken": csrf_token(page.text)}
    ).get_json()
    options = caller.options()
    options["challenge"] = login_options["challenge"]
    credential = SoftAuthenticator().create(options)
    response = caller.http.post(API, json={"credential": credential}, headers=caller.headers)
    assert response.status_code == 422


def test_the_same_authenticator_cannot_register_twice(caller):
    authenticator = SoftAuthenticator()
    assert caller.register(authenticator).status_code == 201
    again = caller.register(authenticator)  # a client ignoring excludeCredentials
    assert again.status_code == 409


def test_a_user_has_at_most_25_passkeys(app, caller, user):
    for _ in range(passkeys.MAX_PER_USER):
        assert caller.register(SoftAuthenticator()).status_code == 201
    response = caller.http.post(f"{API}/registration-options", headers=caller.headers)
    assert response.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"credential": "not an object"},
        {"credential": []},
        {"credential": {}},
        {"credential": {"id": "x", "rawId": "x", "type": "public-key", "response": {}}},
        {"credential": {"id": 1, "rawId": 2, "response": {"clientDataJSON": 3}}},
        {"credential": {}, "unknown": 1},
    ],
)
def test_malformed_registrations_are_422(caller, body):
    caller.options()
    response = caller.http.post(API, json=body, headers=caller.headers)
    assert response.status_code == 422, response.text
    assert response.content_type == "application/problem+json"


def test_a_registration_with_garbage_client_data_is_422(caller):
    credential = SoftAuthenticator().create(caller.options())
    credential["response"]["clientDataJSON"] = "bm90IGpzb24"
    response = caller.http.post(API, json={"credential": credential}, headers=caller.headers)
    assert response.status_code == 422


@pytest.mark.parametrize(
    "name",
    ["", " ", "x" * 101, "\u0000\u0001", "\t\n", 123, None, ["list"]],
    ids=["empty", "blank", "too-long", "control", "whitespace", "number", "null", "list"],
)
def test_bad_names_are_422(caller, name):
    created = caller.register(SoftAuthenticator()).get_json()
    renamed = caller.call("PATCH", f"/{created['id']}", json={"name": name})
    assert renamed.status_code == 422, renamed.text
    registered = caller.register(SoftAuthenticator(), name=name)
    assert registered.status_code == 422, registered.text


def test_names_are_cleaned_to_one_line(caller):
    created = caller.register(SoftAuthenticator(), name="  Work\n  laptop\u200b ").get_json()
    assert created["name"] == "Work laptop"


# --- rename, delete ------------------------------------------------------------------------


def test_rename(app, caller):
    created = caller.register(SoftAuthenticator()).get_json()
    response = caller.call("PATCH", f"/{created['id']}", json={"name": "YubiKey 5C"})
    assert response.status_code == 200 and response.get_json()["name"] == "YubiKey 5C"
    assert caller.call("GET").get_json()["items"][0]["name"] == "YubiKey 5C"
    assert [e.target_id for e in events(app, "passkey.renamed")] == [created["id"]]
    unknown = caller.call("PATCH", f"/{created['id']}", json={"name": "x", "extra": True})
    assert unknown.status_code == 422


def test_delete(app, caller):
    created = caller.register(SoftAuthenticator()).get_json()
    assert caller.call("DELETE", f"/{created['id']}").status_code == 204
    assert caller.call("GET").get_json() == {"items": []}
    assert caller.call("DELETE", f"/{created['id']}").status_code == 404
    assert [e.target_id for e in events(app, "passkey.deleted")] == [created["id"]]


def _drop_password(app: Flask, user: MadeUser) -> None:
    with app.app_context():
        db.session.get(User, user.id).password_hash = None
        db.session.commit()


def test_the_last_way_to_sign_in_cannot_be_deleted(app, caller, user):
    first = caller.register(SoftAuthenticator()).get_json()
    second = caller.register(SoftAuthenticator()).get_json()
    _drop_password(app, user)
    assert caller.call("DELETE", f"/{first['id']}").status_code == 204
    refused = caller.call("DELETE", f"/{second['id']}")
    assert refused.status_code == 409
    assert refused.content_type == "application/problem+json"
    assert len(caller.call("GET").get_json()["items"]) == 1


def test_a_linked_account_is_another_way_to_sign_in(app, caller, user):
    created = caller.register(SoftAuthenticator()).get_json()
    _drop_password(app, user)
    with app.app_context():
        db.session.add(
            Identity(tenant_id=user.tenant_id, user_id=user.id, provider="google", subject="g-1")
        )
        db.session.commit()
    assert caller.call("DELETE", f"/{created['id']}").status_code == 204


def test_another_users_passkey_is_not_found(app, caller):
    bob = make_user(app, email="bob@example.com")
    bobs_browser = signed_in(app.test_client(), bob)
    bobs = Caller(bobs_browser, csrf_header(bobs_browser))
    theirs = bobs.register(SoftAuthenticator()).get_json()
    path = f"/{theirs['id']}"
    assert caller.call("GET", path).status_code == 404
    assert caller.call("PATCH", path, json={"name": "mine now"}).status_code == 404
    assert caller.call("DELETE", path).status_code == 404
    assert caller.call("GET", "/" + "x" * 500).status_code == 404
    assert bobs.call("GET", path).get_json()["name"] == theirs["name"]


# --- authentication of the caller ----------------------------------------------------------


def test_a_token_without_the_account_scope_is_forbidden(app, client, user):
    token = account_token(app, client, user, scope="profile")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(API, headers=headers).status_code == 403
    assert client.post(f"{API}/registration-options", headers=headers).status_code == 403


def test_no_credential_is_401(client):
    assert client.get(API).status_code == 401


def test_cookie_writes_need_the_csrf_header(app, browser, caller):
    created = caller.register(SoftAuthenticator()).get_json()
    assert browser.post(f"{API}/registration-options").status_code == 400
    credential = SoftAuthenticator().create(caller.options())
    assert browser.post(API, json={"credential": credential}).status_code == 400
    path = f"{API}/{created['id']}"
    assert browser.patch(path, json={"name": "x"}).status_code == 400
    assert browser.delete(path).status_code == 400
    assert browser.get(API).status_code == 200  # reads need no token
    assert len(caller.call("GET").get_json()["items"]) == 1


# --- the hosted page -----------------------------------------------------------------------


PAGE = "/account/passkeys"


def test_the_page_needs_a_signed_in_user(client):
    response = client.get(PAGE)
    assert response.status_code == 303 and "/login?next=/account/passkeys" in response.location


def test_add_rename_and_remove_on_the_page(app, browser, caller, user):
    page = browser.get(PAGE)
    assert page.status_code == 200 and "You have no passkeys yet" in page.text
    assert 'data-options-url="/account/v1/passkeys/registration-options"' in page.text
    token = csrf_token(page.text)

    credential = SoftAuthenticator().create(caller.options())
    added = browser.post(
        PAGE, data={"csrf_token": token, "credential": json.dumps(credential), "name": "Phone"}
    )
    assert added.status_code == 303
    page = browser.get(PAGE).text
    assert "Passkey “Phone” added." in page and "<strong>Phone</strong>" in page
    with app.app_context():
        passkey_id = db.session.scalar(select(WebAuthnCredential.id))

    renamed = browser.post(
        f"{PAGE}/{passkey_id}/rename", data={"csrf_token": token, "name": "Old phone"}
    )
    assert renamed.status_code == 303
    assert "<strong>Old phone</strong>" in browser.get(PAGE).text

    bad = browser.post(f"{PAGE}/{passkey_id}/rename", data={"csrf_token": token, "name": ""})
    assert bad.status_code == 303 and "use 1 to 100 characters" in browser.get(PAGE).text

    _drop_password(app, user)
    refused = browser.post(f"{PAGE}/{passkey_id}/delete", data={"csrf_token": token})
    assert refused.status_code == 303
    assert "only way to sign in" in browser.get(PAGE).text

    with app.app_context():
        db.session.get(User, user.id).password_hash = "x"
        db.session.commit()
    removed = browser.post(f"{PAGE}/{passkey_id}/delete", data={"csrf_token": token})
    assert removed.status_code == 303
    page = browser.get(PAGE).text
    assert "Passkey removed." in page and "You have no passkeys yet" in page


def test_page_add_without_a_credential_explains(browser):
    token = csrf_token(browser.get(PAGE).text)
    response = browser.post(PAGE, data={"csrf_token": token})
    assert response.status_code == 303
    assert "credential" in browser.get(PAGE).text.lower()


def test_page_forms_need_the_csrf_token(app, browser, caller):
    created = caller.register(SoftAuthenticator()).get_json()
    assert browser.post(f"{PAGE}/{created['id']}/delete").status_code == 400
    assert browser.post(f"{PAGE}/{created['id']}/rename", data={"name": "x"}).status_code == 400
    assert browser.post(PAGE, data={"credential": "{}"}).status_code == 400
    assert len(caller.call("GET").get_json()["items"]) == 1


def test_page_cannot_touch_another_users_passkey(app, browser):
    bob = make_user(app, email="bob@example.com")
    bobs_browser = signed_in(app.test_client(), bob)
    theirs = Caller(bobs_browser, csrf_header(bobs_browser)).register(SoftAuthenticator())
    passkey_id = theirs.get_json()["id"]
    token = csrf_token(browser.get(PAGE).text)
    response = browser.post(f"{PAGE}/{passkey_id}/delete", data={"csrf_token": token})
    assert response.status_code == 303 and "No such passkey" in browser.get(PAGE).text
    with app.app_context():
        assert db.session.get(WebAuthnCredential, passkey_id) is not None
