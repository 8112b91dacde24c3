"""/account/v1/devices: list with the current flag, get, rename, (un)trust, revoke one,
revoke all others; another user's device, scopes and CSRF."""

from __future__ import annotations

import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import BackchannelLogout
from idp.models import BrowserSession
from idp.oauth import backchannel
from tests.accounts import account_token
from tests.accounts import csrf_header
from tests.accounts import signed_in
from tests.factories import MadeUser
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorize
from tests.flow import csrf_token

URL = "/account/v1/devices"
CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


def browser(app: Flask, user: MadeUser, user_agent: str = CHROME_LINUX) -> FlaskClient:
    http = app.test_client()
    http.environ_base["HTTP_USER_AGENT"] = user_agent
    return signed_in(http, user)


def devices(http: FlaskClient) -> list[dict]:
    response = http.get(URL)
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["total"] == len(body["items"])
    return body["items"]


def own_id(http: FlaskClient) -> str:
    (mine,) = [d for d in devices(http) if d["current"]]
    return mine["id"]


def events(app: Flask, event_type: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type))
        )


def test_lists_each_signed_in_browser_and_marks_the_callers_own(app):
    user = make_user(app)
    laptop = browser(app, user, CHROME_LINUX)
    phone = browser(app, user, SAFARI_IPHONE)

    listed = devices(laptop)

    assert len(listed) == 2
    by_name = {d["name"]: d for d in listed}
    assert set(by_name) == {"Chrome on Linux", "Safari on iPhone"}
    assert by_name["Chrome on Linux"]["current"] is True
    assert by_name["Safari on iPhone"]["current"] is False
    assert by_name["Safari on iPhone"]["user_agent"] == SAFARI_IPHONE
    for device in listed:
        assert device["signed_in"] is True and device["trusted"] is False
        assert device["trusted_until"] is None
        assert device["ip"] and device["created_at"] and device["last_seen_at"]
    assert {d["id"] for d in devices(phone) if d["current"]} == {by_name["Safari on iPhone"]["id"]}


@pytest.mark.parametrize(
    ("user_agent", "name"),
    [("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0", "Edge on Windows"),
     ("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", "Firefox on Android"),
     ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "Version/17.4 Safari/605.1.15", "Safari on macOS"),
     ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/124.0.0.0 Safari/537.36", "Chrome on ChromeOS"),
     ("Firefox/125.0", "Firefox"), ("SomeBot (Linux)", "Linux device"),
     ("curl/8.5.0", "Unknown device"), ("", "Unknown device")],
)  # fmt: skip
def test_a_device_without_a_name_is_named_after_its_user_agent(app, user_agent, name):
    user = make_user(app)
    (device,) = devices(browser(app, user, user_agent))
    assert device["name"] == name
    assert device["user_agent"] == (user_agent or None)


def test_get_one_device(app):
    user = make_user(app)
    laptop = browser(app, user)
    device_id = own_id(laptop)

    response = laptop.get(f"{URL}/{device_id}")

    assert response.status_code == 200
    assert response.get_json()["id"] == device_id and response.get_json()["current"] is True


def test_rename_and_back_to_the_default_name(app):
    user = make_user(app)
    laptop = browser(app, user)
    device_id = own_id(laptop)

    renamed = laptop.patch(
        f"{URL}/{device_id}", json={"name": "  Work laptop "}, headers=csrf_header(laptop)
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.get_json()["name"] == "Work laptop"
    assert laptop.get(f"{URL}/{device_id}").get_json()["name"] == "Work laptop"
    assert events(app, "device.renamed")[0].details["name"] == "Work laptop"

    reset = laptop.patch(f"{URL}/{device_id}", json={"name": None}, headers=csrf_header(laptop))
    assert reset.get_json()["name"] == "Chrome on Linux"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": "x" * 101}, "name"), ({"name": "tab\there"}, "name"), ({"name": 5}, "name"),
     ({"trusted": "yes"}, "trusted"), ({"colour": "red"}, "colour")],
)  # fmt: skip
def test_bad_changes_are_422_with_the_field(app, body, field):
    user = make_user(app)
    laptop = browser(app, user)
    device_id = own_id(laptop)

    response = laptop.patch(f"{URL}/{device_id}", json=body, headers=csrf_header(laptop))

    assert response.status_code == 422, response.text
    assert response.mimetype == "application/problem+json"
    assert field in str(response.get_json()["errors"])


def test_a_name_of_exactly_100_characters_is_fine(app):
    user = make_user(app)
    laptop = browser(app, user)
    device_id = own_id(laptop)
    response = laptop.patch(
        f"{URL}/{device_id}", json={"name": "n" * 100}, headers=csrf_header(laptop)
    )
    assert response.status_code == 200 and response.get_json()["name"] == "n" * 100


def test_revoking_another_device_signs_it_out(app):
    user = make_user(app)
    laptop = browser(app, user)
    phone = browser(app, user, SAFARI_IPHONE)
    phone_id = own_id(phone)

    response = laptop.delete(f"{URL}/{phone_id}", headers=csrf_header(laptop))

    assert response.status_code == 204
    assert phone.get(URL).status_code == 401  # its session cookie no longer works
    assert [d["id"] for d in devices(laptop)] == [own_id(laptop)]
    assert laptop.get(f"{URL}/{phone_id}").status_code == 404
    assert events(app, "device.revoked")[0].target_id == phone_id
    with app.app_context():
        row = db.session.get(BrowserSession, phone_id)
        assert row.revoked_at is not None


def test_revoking_the_callers_own_device_signs_the_browser_out(app):
    user = make_user(app)
    laptop = browser(app, user)
    device_id = own_id(laptop)

    response = laptop.delete(f"{URL}/{device_id}", headers=csrf_header(laptop))

    assert response.status_code == 204
    assert any(c.startswith("idp_sso=;") for c in response.headers.getlist("Set-Cookie"))
    assert laptop.get(URL).status_code == 401


def test_revoking_devices_tells_their_relying_parties(app, monkeypatch):
    """Like a logout: each ended session's clients get a Back-Channel Logout token, queued in
    the same commit and sent after it."""
    started: list[list[str]] = []
    monkeypatch.setattr(backchannel, "start", lambda app, row_ids: started.append(list(row_ids)))
    user = make_user(app)
    rp = make_client(app, skip_consent=True, backchannel_logout_uri="https://rp.example.com/bc")
    laptop = browser(app, user)
    phone = browser(app, user, SAFARI_IPHONE)
    tablet = browser(app, user, SAFARI_IPHONE.replace("iPhone", "iPad"))
    for other in (phone, tablet):
        assert authorize(other, rp, user).redirect.get("code")

    assert laptop.delete(f"{URL}/{own_id(phone)}", headers=csrf_header(laptop)).status_code == 204
    assert laptop.post(f"{URL}/revoke-others", headers=csrf_header(laptop)).status_code == 200

    with app.app_context():
        rows = db.session.scalars(select(BackchannelLogout)).all()
        assert len(rows) == 2 and {r.client_id for r in rows} == {rows[0].client_id}
        assert sorted(started) == sorted([row.id] for row in rows)  # one start per commit


def test_revoke_others_keeps_the_callers_browser(app):
    user = make_user(app)
    laptop = browser(app, user)
    phone = browser(app, user, SAFARI_IPHONE)
    tablet = browser(app, user, SAFARI_IPHONE.replace("iPhone", "iPad"))
    mine = own_id(laptop)

    response = laptop.post(f"{URL}/revoke-others", headers=csrf_header(laptop))

    assert response.status_code == 200, response.text
    assert response.get_json() == {"revoked": 2}
    assert [d["id"] for d in devices(laptop)] == [mine]
    assert phone.get(URL).status_code == 401 and tablet.get(URL).status_code == 401
    again = laptop.post(f"{URL}/revoke-others", headers=csrf_header(laptop))
    assert again.get_json() == {"revoked": 0}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("patch", ""), ("delete", "")],
)
def test_another_users_device_is_404(app, method, path):
    alice = make_user(app)
    bob = make_user(app, "bob@example.com")
    alice_browser = browser(app, alice)
    bob_device = own_id(browser(app, bob))

    for device_id in (bob_device, str(uuid.uuid4()), "x" * 300):
        response = getattr(alice_browser, method)(
            f"{URL}/{device_id}{path}",
            json={"name": "mine now"},
            headers=csrf_header(alice_browser),
        )
        assert response.status_code == 404, response.text
        assert response.mimetype == "application/problem+json"
    with app.app_context():
        row = db.session.get(BrowserSession, bob_device)
        assert row.revoked_at is None and row.name is None


def test_a_signed_out_device_is_gone(app):
    user = make_user(app)
    laptop = browser(app, user)
    phone = browser(app, user, SAFARI_IPHONE)
    phone_id = own_id(phone)
    with app.app_context():
        db.session.get(BrowserSession, phone_id).revoked_at = db.session.get(
            BrowserSession, phone_id
        ).created_at
        db.session.commit()
    assert [d["id"] for d in devices(laptop)] == [own_id(laptop)]
    assert laptop.get(f"{URL}/{phone_id}").status_code == 404


# --- trust -----------------------------------------------------------------------------------


def test_a_one_factor_session_cannot_trust_itself(app):
    user = make_user(app)
    laptop = browser(app, user)
    device_id = own_id(laptop)

    response = laptop.patch(
        f"{URL}/{device_id}", json={"trusted": True}, headers=csrf_header(laptop)
    )

    assert response.status_code == 403, response.text
    assert not any(c.startswith("idp_device=") for c in response.headers.getlist("Set-Cookie"))
    assert laptop.get(f"{URL}/{device_id}").get_json()["trusted"] is False


def test_only_the_device_itself_can_be_trusted(app):
    user = make_user(app)
    laptop = browser(app, user)
    phone_id = own_id(browser(app, user, SAFARI_IPHONE))

    response = laptop.patch(
        f"{URL}/{phone_id}", json={"trusted": True}, headers=csrf_header(laptop)
    )

    assert response.status_code == 409, response.text


def test_trusting_and_untrusting_a_two_factor_session(app):
    user = make_user(app)
    laptop = browser(app, user)
    device_id = own_id(laptop)
    with app.app_context():  # as if signed in with a second factor
        db.session.get(BrowserSession, device_id).acr = "2"
        db.session.commit()

    trusted = laptop.patch(
        f"{URL}/{device_id}", json={"trusted": True}, headers=csrf_header(laptop)
    )

    assert trusted.status_code == 200, trusted.text
    assert trusted.get_json()["trusted"] is True and trusted.get_json()["trusted_until"]
    (cookie,) = [c for c in trusted.headers.getlist("Set-Cookie") if c.startswith("idp_device=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert f"Max-Age={30 * 24 * 3600}" in cookie
    assert events(app, "device.trusted")

    untrusted = laptop.patch(
        f"{URL}/{device_id}", json={"trusted": False}, headers=csrf_header(laptop)
    )
    assert untrusted.status_code == 200
    assert (
        untrusted.get_json()["trusted"] is False and untrusted.get_json()["trusted_until"] is None
    )
    assert any(c.startswith("idp_device=;") for c in untrusted.headers.getlist("Set-Cookie"))
    assert events(app, "device.untrusted")
    with app.app_context():
        assert db.session.get(BrowserSession, device_id).device_token_hash is None


# --- access tokens, scopes, CSRF --------------------------------------------------------------


def test_a_token_without_the_account_scope_is_403(app):
    user = make_user(app)
    http = app.test_client()
    token = account_token(app, http, user, scope="profile")
    response = http.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


def test_with_a_token_current_is_the_session_it_came_from(app):
    user = make_user(app)
    laptop = browser(app, user)
    http = app.test_client()
    token = account_token(app, http, user)  # signs in a second browser, then drops its cookie
    auth = {"Authorization": f"Bearer {token}"}

    listed = http.get(URL, headers=auth).get_json()["items"]
    assert len(listed) == 2
    (current,) = [d for d in listed if d["current"]]
    assert current["id"] != own_id(laptop)

    # A token caller needs no CSRF header; revoke-others keeps the token's own session.
    response = http.post(f"{URL}/revoke-others", headers=auth)
    assert response.status_code == 200 and response.get_json() == {"revoked": 1}
    assert laptop.get(URL).status_code == 401
    assert [d["id"] for d in http.get(URL, headers=auth).get_json()["items"]] == [current["id"]]

    refused = http.patch(f"{URL}/{current['id']}", json={"trusted": True}, headers=auth)
    assert refused.status_code == 409  # the token's caller is not the browser


@pytest.mark.parametrize(
    ("method", "path"),
    [("patch", "/{id}"), ("delete", "/{id}"), ("post", "/revoke-others")],
)
def test_cookie_writes_without_the_csrf_header_are_400(app, method, path):
    user = make_user(app)
    laptop = browser(app, user)
    phone = browser(app, user, SAFARI_IPHONE)
    device_id = own_id(laptop)

    response = getattr(laptop, method)(URL + path.format(id=device_id), json={"name": "x"})

    assert response.status_code == 400, response.text
    assert len(devices(laptop)) == 2 and phone.get(URL).status_code == 200
    assert laptop.get(f"{URL}/{device_id}").get_json()["name"] == "Chrome on Linux"


def test_without_a_credential_it_is_401(client):
    assert client.get(URL).status_code == 401


# --- the hosted page ---------------------------------------------------------------------------

PAGE = "/account/devices"


def page_ids(html: str) -> list[str]:
    return re.findall(r'id="device-([0-9a-f-]{36})"', html)


def test_the_page_lists_devices_with_this_one_first(app):
    user = make_user(app)
    phone = browser(app, user, SAFARI_IPHONE)
    laptop = browser(app, user)

    page = laptop.get(PAGE)

    assert page.status_code == 200, page.text
    assert page_ids(page.text) == [own_id(laptop), own_id(phone)]
    assert "Chrome on Linux" in page.text and "Safari on iPhone" in page.text
    assert "This device" in page.text
    assert 'name="csrf_token"' in page.text
    assert "Trust this device" not in page.text  # signed in with one factor


def test_the_page_renames_a_device(app):
    user = make_user(app)
    laptop = browser(app, user)
    device_id = own_id(laptop)
    token = csrf_token(laptop.get(PAGE).text)

    response = laptop.post(f"{PAGE}/{device_id}/rename", data={"csrf_token": token, "name": "Desk"})

    assert response.status_code == 303 and response.headers["Location"] == PAGE
    page = laptop.get(PAGE).text
    assert "Renamed to “Desk”" in page
    laptop.post(f"{PAGE}/{device_id}/rename", data={"csrf_token": token, "name": "d" * 101})
    assert "at most 100 characters" in laptop.get(PAGE).text
    assert laptop.get(f"{URL}/{device_id}").get_json()["name"] == "Desk"


def test_the_page_trusts_and_untrusts_this_device(app):
    user = make_user(app)
    laptop = browser(app, user)
    device_id = own_id(laptop)
    with app.app_context():
        db.session.get(BrowserSession, device_id).acr = "2"
        db.session.commit()
    page = laptop.get(PAGE).text
    assert "Trust this device" in page

    trusted = laptop.post(f"{PAGE}/{device_id}/trust", data={"csrf_token": csrf_token(page)})

    assert trusted.status_code == 303
    assert any(c.startswith("idp_device=") for c in trusted.headers.getlist("Set-Cookie"))
    page = laptop.get(PAGE).text
    assert "Stop trusting" in page and "Trusted" in page
    laptop.post(f"{PAGE}/{device_id}/untrust", data={"csrf_token": csrf_token(page)})
    assert laptop.get(f"{URL}/{device_id}").get_json()["trusted"] is False


def test_the_page_signs_out_another_device_and_all_others(app):
    user = make_user(app)
    laptop = browser(app, user)
    phone = browser(app, user, SAFARI_IPHONE)
    tablet = browser(app, user, SAFARI_IPHONE.replace("iPhone", "iPad"))
    token = csrf_token(laptop.get(PAGE).text)

    laptop.post(f"{PAGE}/{own_id(phone)}/revoke", data={"csrf_token": token})
    assert phone.get(URL).status_code == 401
    assert "Signed out “Safari on iPhone”" in laptop.get(PAGE).text

    laptop.post(f"{PAGE}/revoke-others", data={"csrf_token": token})
    assert tablet.get(URL).status_code == 401
    assert "Signed out 1 other device." in laptop.get(PAGE).text
    assert page_ids(laptop.get(PAGE).text) == [own_id(laptop)]


def test_signing_out_this_device_from_the_page_signs_the_browser_out(app):
    user = make_user(app)
    laptop = browser(app, user)
    device_id = own_id(laptop)

    response = laptop.post(
        f"{PAGE}/{device_id}/revoke", data={"csrf_token": csrf_token(laptop.get(PAGE).text)}
    )

    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert any(c.startswith("idp_sso=;") for c in response.headers.getlist("Set-Cookie"))
    assert laptop.get(PAGE).status_code == 303  # back to the sign-in page


def test_the_page_cannot_touch_another_users_device(app):
    alice = browser(app, make_user(app))
    bob = browser(app, make_user(app, "bob@example.com"))
    bob_device = own_id(bob)
    token = csrf_token(alice.get(PAGE).text)

    for action in ("revoke", "rename", "untrust"):
        response = alice.post(
            f"{PAGE}/{bob_device}/{action}", data={"csrf_token": token, "name": "x"}
        )
        assert response.status_code == 303
    assert "no longer signed in" in alice.get(PAGE).text
    assert bob.get(f"{URL}/{bob_device}").get_json()["name"] == "Chrome on Linux"


def test_page_posts_need_the_csrf_token(app):
    user = make_user(app)
    laptop = browser(app, user)
    phone = browser(app, user, SAFARI_IPHONE)

    assert laptop.post(f"{PAGE}/revoke-others").status_code == 400
    assert laptop.post(f"{PAGE}/{own_id(phone)}/revoke").status_code == 400
    assert phone.get(URL).status_code == 200


def test_the_page_needs_a_signed_in_user(client):
    response = client.get(PAGE)
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")
