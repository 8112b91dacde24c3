"""/logout: OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout 1.0."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import BackchannelLogout
from idp.oauth import backchannel
from idp.oauth import tokens as token_policy
from idp.services import logout as logout_service
from tests.factories import MadeClient
from tests.factories import MadeUser
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorization_params
from tests.flow import authorize
from tests.flow import csrf_token
from tests.flow import exchange
from tests.flow import query

AFTER_LOGOUT = "https://rp.example.com/signed-out"
BACKCHANNEL_URI = "https://rp.example.com/backchannel"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


# --- helpers -----------------------------------------------------------------------------------


def rp_client(app: Flask, **options: object) -> MadeClient:
    options.setdefault("post_logout_redirect_uris", [AFTER_LOGOUT])
    return make_client(app, skip_consent=True, **options)


def sign_in(
    http: FlaskClient, rp: MadeClient, user: MadeUser, scope: str = "openid profile email"
) -> dict:
    """Run the code flow through HTTP; return the token response."""
    auth = authorize(http, rp, user, scope=scope)
    response = exchange(http, rp, auth.code, auth.verifier)
    assert response.status_code == 200, response.text
    return response.get_json()


def signed_in(http: FlaskClient, user: MadeUser) -> bool:
    return user.email in http.get("/").text


def logout_url(**params: str) -> str:
    return "/logout?" + urlencode(params)


def decode(http: FlaskClient, token: str) -> jwt.Token:
    keys = KeySet.import_key_set(http.get("/jwks.json").get_json())
    return jwt.decode(token, keys, algorithms=["RS256", "ES256"])


@dataclass
class Deliveries:
    """A fake relying party behind the back-channel poster, and the threads /logout started."""

    answer: int = 200
    delay: float = 0.0
    posts: list[tuple[str, dict[str, str], float]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    row_ids: list[str] = field(default_factory=list)

    def post(self, url: str, data: dict[str, str], timeout: float) -> int:
        time.sleep(self.delay)
        self.posts.append((url, data, timeout))
        return self.answer

    def join(self, timeout: float = 10.0) -> None:
        for thread in self.threads:
            thread.join(timeout)
            assert not thread.is_alive(), "the delivery thread did not finish"

    @property
    def tokens(self) -> list[str]:
        return [data["logout_token"] for _, data, _ in self.posts]


@pytest.fixture
def deliveries(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deliveries]:
    fake = Deliveries()
    real_start = backchannel.start

    def start(app: Flask, row_ids: list[str]) -> threading.Thread:
        fake.row_ids.extend(row_ids)
        thread = real_start(app, row_ids)
        fake.threads.append(thread)
        return thread

    monkeypatch.setattr(logout_service, "post", fake.post)
    monkeypatch.setattr(backchannel, "start", start)
    yield fake
    fake.join()  # before the database is emptied under a running thread


@pytest.fixture
def no_background(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Queue logout tokens but start no thread: the test runs the outbox itself."""
    queued: list[str] = []
    monkeypatch.setattr(backchannel, "start", lambda app, row_ids: queued.extend(row_ids))
    return queued


def outbox(app: Flask) -> list[BackchannelLogout]:
    with app.app_context():
        rows = list(db.session.scalars(select(BackchannelLogout)))
        db.session.expunge_all()
        return rows


# --- RP-Initiated Logout ------------------------------------------------------------------------


def test_discovery_advertises_end_session_and_backchannel_logout(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["end_session_endpoint"] == meta["issuer"] + "/logout"
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    assert meta["frontchannel_logout_supported"] is False


def test_valid_hint_logs_out_at_once_and_redirects_with_state(app, client):
    user = make_user(app)
    rp = rp_client(app)
    id_token = sign_in(client, rp, user)["id_token"]

    response = client.get(
        logout_url(id_token_hint=id_token, post_logout_redirect_uri=AFTER_LOGOUT, state="s-1")
    )

    assert response.status_code == 303
    assert response.headers["Location"] == AFTER_LOGOUT + "?state=s-1"
    assert "idp_sso=;" in response.headers["Set-Cookie"]
    assert not signed_in(client, user)


def test_redirect_keeps_the_registered_query_and_omits_absent_state(app, client):
    user = make_user(app)
    registered = AFTER_LOGOUT + "?tab=home"
    rp = rp_client(app, post_logout_redirect_uris=[registered])
    id_token = sign_in(client, rp, user)["id_token"]

    response = client.get(logout_url(id_token_hint=id_token, post_logout_redirect_uri=registered))

    assert response.status_code == 303
    assert response.headers["Location"] == registered


def test_without_a_redirect_uri_the_signed_out_page_is_shown(app, client):
    user = make_user(app)
    rp = rp_client(app)
    id_token = sign_in(client, rp, user)["id_token"]

    response = client.get(logout_url(id_token_hint=id_token))

    assert response.status_code == 200
    assert "You are signed out" in response.text
    assert not signed_in(client, user)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example.com/signed-out",
        AFTER_LOGOUT + "/",
        AFTER_LOGOUT + "?x=1",
        "HTTPS://rp.example.com/signed-out",
        "https://rp.example.com/callback",  # a login redirect_uri is not a logout one
    ],
)
def test_unregistered_post_logout_redirect_uri_is_an_error_page_and_ends_nothing(
    app, client, redirect_uri
):
    user = make_user(app)
    rp = rp_client(app)
    id_token = sign_in(client, rp, user)["id_token"]

    response = client.get(
        logout_url(id_token_hint=id_token, post_logout_redirect_uri=redirect_uri, state="s")
    )

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "not registered" in response.text
    assert signed_in(client, user)


def test_redirect_uri_without_an_identified_client_is_refused(app, client):
    user = make_user(app)
    sign_in(client, rp_client(app), user)

    response = client.get(logout_url(post_logout_redirect_uri=AFTER_LOGOUT))

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert signed_in(client, user)


def test_client_id_is_enough_to_honour_a_registered_redirect_after_confirmation(app, client):
    user = make_user(app)
    rp = rp_client(app)
    sign_in(client, rp, user)

    page = client.get(
        logout_url(client_id=rp.client_id, post_logout_redirect_uri=AFTER_LOGOUT, state="s-2")
    )
    assert page.status_code == 200
    response = client.post(
        "/logout",
        data={
            "csrf_token": csrf_token(page.text),
            "client_id": rp.client_id,
            "post_logout_redirect_uri": AFTER_LOGOUT,
            "state": "s-2",
            "decision": "logout",
        },
    )

    assert response.status_code == 303
    assert response.headers["Location"] == AFTER_LOGOUT + "?state=s-2"
    assert not signed_in(client, user)


def test_client_id_that_is_not_the_hint_audience_is_refused(app, client):
    user = make_user(app)
    rp = rp_client(app)
    other = rp_client(app, name="Other RP")
    id_token = sign_in(client, rp, user)["id_token"]

    response = client.get(
        logout_url(
            id_token_hint=id_token,
            client_id=other.client_id,
            post_logout_redirect_uri=AFTER_LOGOUT,
        )
    )

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert signed_in(client, user)


def test_unknown_client_id_is_refused(app, client):
    response = client.get(logout_url(client_id="no-such-client"))
    assert response.status_code == 400


def _tampered(app: Flask, id_token: str) -> str:
    header, payload, signature = id_token.split(".")
    other = jwt.encode({"alg": "RS256"}, {"sub": "mallory"}, RSAKey.generate_key(2048))
    return ".".join([header, other.split(".")[1], signature])


def _foreign_key(app: Flask, id_token: str) -> str:
    claims = jwt.decode(id_token, KeySet.import_key_set(_jwks(app))).claims
    return jwt.encode({"alg": "RS256", "kid": "x"}, claims, RSAKey.generate_key(2048))


def _other_issuer(app: Flask, id_token: str) -> str:
    claims = jwt.decode(id_token, KeySet.import_key_set(_jwks(app))).claims
    with app.app_context():
        return token_policy.sign({**claims, "iss": "https://other.example.com"})


def _jwks(app: Flask) -> dict:
    return app.test_client().get("/jwks.json").get_json()


@pytest.mark.parametrize(
    "forge",
    [
        _tampered,
        _foreign_key,
        _other_issuer,
        lambda app, id_token: "not-a-jwt",
        lambda app, id_token: id_token + "x" * 9000,
    ],
    ids=["tampered", "foreign-key", "other-issuer", "garbage", "oversized"],
)
def test_invalid_hint_is_an_error_page_and_ends_nothing(app, client, forge):
    user = make_user(app)
    rp = rp_client(app)
    id_token = sign_in(client, rp, user)["id_token"]

    response = client.get(
        logout_url(
            id_token_hint=forge(app, id_token),
            post_logout_redirect_uri=AFTER_LOGOUT,
            state="s",
        )
    )

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Traceback" not in response.text
    assert signed_in(client, user)


def test_access_token_is_not_accepted_as_a_hint(app, client):
    user = make_user(app)
    rp = rp_client(app)
    access_token = sign_in(client, rp, user)["access_token"]

    response = client.get(logout_url(id_token_hint=access_token))

    assert response.status_code == 400
    assert signed_in(client, user)


def test_expired_hint_is_still_accepted(app, client, frozen_clock):
    user = make_user(app)
    rp = rp_client(app)
    id_token = sign_in(client, rp, user)["id_token"]
    frozen_clock.advance(hours=2)  # the ID token lived one hour

    response = client.get(
        logout_url(id_token_hint=id_token, post_logout_redirect_uri=AFTER_LOGOUT, state="late")
    )

    assert response.status_code == 303
    assert response.headers["Location"] == AFTER_LOGOUT + "?state=late"
    assert not signed_in(client, user)


def test_without_hint_a_confirmation_page_is_shown_and_the_session_lives_until_confirmed(
    app, client
):
    user = make_user(app)
    rp = rp_client(app)
    sign_in(client, rp, user)

    page = client.get(
        logout_url(
            client_id=rp.client_id,
            post_logout_redirect_uri=AFTER_LOGOUT,
            state="s-3",
            ui_locales="en",
            logout_hint=user.email,
        )
    )

    assert page.status_code == 200
    assert "<script" not in page.text and "<style" not in page.text and "style=" not in page.text
    assert 'action="/logout"' in page.text and 'method="post"' in page.text
    for name, value in (
        ("client_id", rp.client_id),
        ("post_logout_redirect_uri", AFTER_LOGOUT),
        ("state", "s-3"),
        ("ui_locales", "en"),
        ("logout_hint", user.email),
    ):
        assert f'name="{name}" value="{value}"' in page.text
    assert "Sign out" in page.text and "Stay signed in" in page.text
    assert signed_in(client, user)

    response = client.post(
        "/logout",
        data={
            "csrf_token": csrf_token(page.text),
            "client_id": rp.client_id,
            "post_logout_redirect_uri": AFTER_LOGOUT,
            "state": "s-3",
            "decision": "logout",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == AFTER_LOGOUT + "?state=s-3"
    assert not signed_in(client, user)


def test_hint_for_another_user_asks_for_confirmation(app, client):
    alice = make_user(app)
    bob = make_user(app, email="bob@example.com")
    rp = rp_client(app)
    bobs_token = sign_in(app.test_client(), rp, bob)["id_token"]
    sign_in(client, rp, alice)

    page = client.get(logout_url(id_token_hint=bobs_token))

    assert page.status_code == 200
    assert 'name="csrf_token"' in page.text
    assert signed_in(client, alice)


@pytest.mark.parametrize(
    "token", [None, "forged-token"], ids=["without-token", "with-a-forged-token"]
)
def test_confirmation_post_without_a_valid_csrf_token_is_refused(app, client, token):
    user = make_user(app)
    rp = rp_client(app)
    sign_in(client, rp, user)
    data = {"client_id": rp.client_id, "post_logout_redirect_uri": AFTER_LOGOUT, "state": "s"}
    if token:
        data["csrf_token"] = token

    response = client.post("/logout", data={**data, "decision": "logout"})

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert signed_in(client, user)


def test_stay_signed_in_keeps_the_session(app, client):
    user = make_user(app)
    rp = rp_client(app)
    sign_in(client, rp, user)
    page = client.get("/logout")

    response = client.post(
        "/logout", data={"csrf_token": csrf_token(page.text), "decision": "stay"}
    )

    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/"
    assert signed_in(client, user)


def test_relying_party_may_post_a_matching_hint_without_a_csrf_token(app, client):
    """RP-Initiated Logout §2: the OP supports POST as well as GET."""
    user = make_user(app)
    rp = rp_client(app)
    id_token = sign_in(client, rp, user)["id_token"]

    response = client.post(
        "/logout",
        data={"id_token_hint": id_token, "post_logout_redirect_uri": AFTER_LOGOUT, "state": "p"},
    )

    assert response.status_code == 303
    assert response.headers["Location"] == AFTER_LOGOUT + "?state=p"
    assert not signed_in(client, user)


def test_logout_without_a_session_answers_the_same_and_reveals_nothing(app, client):
    user = make_user(app)
    rp = rp_client(app)
    id_token = sign_in(client, rp, user)["id_token"]
    stranger = app.test_client()

    response = stranger.get(
        logout_url(id_token_hint=id_token, post_logout_redirect_uri=AFTER_LOGOUT, state="s")
    )
    again = stranger.get(logout_url(client_id=rp.client_id))

    assert response.status_code == 303
    assert response.headers["Location"] == AFTER_LOGOUT + "?state=s"
    assert again.status_code == 200 and "You are signed out" in again.text
    assert user.email not in again.text
    assert signed_in(client, user)  # someone else's browser ended nothing


def test_after_logout_sso_is_gone_and_session_tokens_are_refused_but_offline_ones_work(app, client):
    user = make_user(app)
    rp = rp_client(app)
    offline = sign_in(client, rp, user, scope="openid offline_access")
    assert "offline_access" in offline["scope"].split()
    online = sign_in(client, rp, user)
    for token in (offline, online):
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        assert client.get("/userinfo", headers=auth).status_code == 200

    response = client.get(logout_url(id_token_hint=online["id_token"]))
    assert response.status_code == 200

    params, _ = authorization_params(rp, prompt="none")
    answer = client.get("/authorize?" + urlencode(params))
    assert answer.status_code in (302, 303)
    assert answer.headers["Location"].startswith(rp.redirect_uri)
    assert query(answer.headers["Location"])["error"] == "login_required"
    refused = client.get("/userinfo", headers={"Authorization": f"Bearer {online['access_token']}"})
    assert refused.status_code == 401
    kept = client.get("/userinfo", headers={"Authorization": f"Bearer {offline['access_token']}"})
    assert kept.status_code == 200


def test_home_page_sign_out_button_still_works(app, client):
    user = make_user(app)
    sign_in(client, rp_client(app), user)
    home = client.get("/")

    response = client.post("/logout", data={"csrf_token": csrf_token(home.text)})

    assert response.status_code == 200 and "You are signed out" in response.text
    assert not signed_in(client, user)


# --- Back-Channel Logout --------------------------------------------------------------------------


def test_backchannel_logout_token_is_delivered_signed_with_the_spec_claims(app, client, deliveries):
    user = make_user(app)
    rp = rp_client(app, backchannel_logout_uri=BACKCHANNEL_URI)
    es_rp = rp_client(
        app,
        name="ES RP",
        backchannel_logout_uri=BACKCHANNEL_URI + "/es",
        id_token_signed_response_alg="ES256",
    )
    quiet_rp = rp_client(app, name="No back-channel")
    issued = sign_in(client, rp, user)
    sign_in(client, es_rp, user)
    sign_in(client, quiet_rp, user)
    id_claims = decode(client, issued["id_token"]).claims

    response = client.get(logout_url(id_token_hint=issued["id_token"]))
    assert response.status_code == 200
    deliveries.join()

    assert sorted(url for url, _, _ in deliveries.posts) == [
        BACKCHANNEL_URI,
        BACKCHANNEL_URI + "/es",
    ]
    assert all(timeout == 5.0 for _, _, timeout in deliveries.posts)
    by_aud = {}
    for token in deliveries.tokens:
        decoded = decode(client, token)
        by_aud[decoded.claims["aud"]] = decoded
    assert set(by_aud) == {rp.client_id, es_rp.client_id}
    for client_id, alg in ((rp.client_id, "RS256"), (es_rp.client_id, "ES256")):
        header, claims = by_aud[client_id].header, by_aud[client_id].claims
        assert header["typ"] == "logout+jwt" and header["alg"] == alg and header["kid"]
        assert claims["iss"] == "http://localhost"
        assert claims["sub"] == user.id
        assert claims["sid"] == id_claims["sid"]
        assert claims["events"] == {BACKCHANNEL_EVENT: {}}
        assert claims["exp"] - claims["iat"] == 120
        assert claims["jti"] and "nonce" not in claims
    assert by_aud[rp.client_id].claims["jti"] != by_aud[es_rp.client_id].claims["jti"]
    rows = outbox(app)
    assert len(rows) == 2
    assert all(r.delivered_at is not None and r.attempts == 1 for r in rows)


def test_client_with_only_an_offline_grant_in_the_session_is_notified_too(app, client, deliveries):
    user = make_user(app)
    rp = rp_client(app, backchannel_logout_uri=BACKCHANNEL_URI)
    issued = sign_in(client, rp, user, scope="openid offline_access")

    client.get(logout_url(id_token_hint=issued["id_token"]))
    deliveries.join()

    assert len(deliveries.posts) == 1


def test_clients_from_other_sessions_are_not_notified(app, client, deliveries):
    user = make_user(app)
    rp = rp_client(app)
    elsewhere = rp_client(app, name="Elsewhere", backchannel_logout_uri=BACKCHANNEL_URI)
    sign_in(app.test_client(), elsewhere, user)  # another browser
    issued = sign_in(client, rp, user)

    client.get(logout_url(id_token_hint=issued["id_token"]))
    deliveries.join()

    assert deliveries.posts == [] and outbox(app) == []


def test_logout_does_not_wait_for_a_slow_relying_party(app, client, deliveries):
    deliveries.delay = 3.0
    user = make_user(app)
    rp = rp_client(app, backchannel_logout_uri=BACKCHANNEL_URI)
    issued = sign_in(client, rp, user)

    started = time.monotonic()
    response = client.get(logout_url(id_token_hint=issued["id_token"]))
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed < 1.0, f"/logout took {elapsed:.2f} s"
    assert deliveries.posts == []  # still on its way
    deliveries.join()
    assert len(deliveries.posts) == 1
    assert outbox(app)[0].delivered_at is not None


def test_failed_deliveries_are_retried_with_backoff_and_given_up_after_five_attempts(
    app, client, frozen_clock, no_background
):
    user = make_user(app)
    rp = rp_client(app, backchannel_logout_uri=BACKCHANNEL_URI)
    issued = sign_in(client, rp, user)
    client.get(logout_url(id_token_hint=issued["id_token"]))
    (row_id,) = no_background
    calls: list[str] = []

    def failing(url: str, data: dict[str, str], timeout: float) -> int:
        calls.append(url)
        return 503

    def run() -> backchannel.Report:
        with app.app_context():
            return backchannel.deliver_due(poster=failing)

    waits = []
    for attempt in range(1, 6):
        report = run()
        row = outbox(app)[0]
        assert row.attempts == attempt and len(calls) == attempt
        assert row.last_error == "HTTP 503"
        assert row.logout_token not in row.last_error
        if attempt < 5:
            assert report.retrying == 1 and row.failed_at is None
            wait = row.next_attempt_at - frozen_clock.current
            waits.append(wait.total_seconds())
            assert run() == backchannel.Report()  # not due yet
            frozen_clock.advance(seconds=wait.total_seconds() - 1)
            assert run() == backchannel.Report()
            frozen_clock.advance(seconds=1)
        else:
            assert report.failed == 1 and row.failed_at is not None and row.delivered_at is None

    assert waits == [2, 4, 8, 16]
    frozen_clock.advance(days=1)
    assert run() == backchannel.Report() and len(calls) == 5
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event_type == "backchannel_logout.failed")
        )
        assert event is not None and event.target_id == row_id


def test_a_retry_that_succeeds_marks_the_row_delivered(app, client, frozen_clock, no_background):
    user = make_user(app)
    rp = rp_client(app, backchannel_logout_uri=BACKCHANNEL_URI)
    client.get(logout_url(id_token_hint=sign_in(client, rp, user)["id_token"]))
    answers = iter([ConnectionRefusedError("refused"), 204])

    def flaky(url: str, data: dict[str, str], timeout: float) -> int:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with app.app_context():
        assert backchannel.deliver_due(poster=flaky).retrying == 1
    row = outbox(app)[0]
    assert row.last_error.startswith("ConnectionRefusedError")
    frozen_clock.advance(seconds=2)
    with app.app_context():
        assert backchannel.deliver_due(poster=flaky).delivered == 1
    row = outbox(app)[0]
    assert row.delivered_at is not None and row.attempts == 2 and row.last_error is None


def test_cli_logout_deliver_sends_due_rows_once(app, client, no_background, monkeypatch):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from idp.cli import main

    user = make_user(app)
    rp = rp_client(app, backchannel_logout_uri=BACKCHANNEL_URI)
    client.get(logout_url(id_token_hint=sign_in(client, rp, user)["id_token"]))
    fake = Deliveries()
    monkeypatch.setattr(logout_service, "post", fake.post)

    result = CliRunner().invoke(
        main, ["logout", "deliver", "--json"], obj=ScriptInfo(create_app=lambda: app)
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == '{"delivered": 1, "retrying": 0, "failed": 0}'
    assert len(fake.posts) == 1


# --- the real HTTP poster ---------------------------------------------------------------------


class _RP(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, self.headers.get("Content-Type", ""), body))
        if self.path.startswith("/moved/"):
            self.send_response(int(self.path.rsplit("/", 1)[1]))
            self.send_header("Location", "/ok")
        else:
            self.send_response(200 if self.path == "/ok" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST  # noqa: N815 - a followed redirect would arrive as a GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def rp_server() -> Iterator[str]:
    _RP.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RP)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_poster_sends_a_form_and_never_follows_redirects(rp_server):
    assert logout_service.post(rp_server + "/ok", {"logout_token": "a.b.c"}, 5) == 200
    for status in (301, 302, 303, 307, 308):
        moved = rp_server + f"/moved/{status}"
        assert logout_service.post(moved, {"logout_token": "a.b.c"}, 5) == status
    assert logout_service.post(rp_server + "/broken", {"logout_token": "a.b.c"}, 5) == 500
    paths = [path for path, _, _ in _RP.received]
    moved_paths = [f"/moved/{s}" for s in (301, 302, 303, 307, 308)]
    assert paths == ["/ok", *moved_paths, "/broken"]  # no redirect was followed to /ok
    _, content_type, body = _RP.received[0]
    assert content_type == "application/x-www-form-urlencoded"
    assert body == b"logout_token=a.b.c"


def test_http_poster_refuses_other_schemes():
    with pytest.raises(ValueError):
        logout_service.post("file:///etc/passwd", {"logout_token": "x"}, 5)


def test_rows_whose_logout_token_expired_are_given_up_not_sent(app, frozen_clock, monkeypatch):
    from idp.extensions import db
    from idp.models import BackchannelLogout
    from idp.services import logout as logout_service
    from tests.factories import make_client as _make_client

    rp = _make_client(app, backchannel_logout_uri="https://rp.example.com/bc")
    with app.app_context():
        from idp.models import Client

        client_row = db.session.scalar(db.select(Client).where(Client.client_id == rp.client_id))
        db.session.add(
            BackchannelLogout(
                client_id=client_row.id,
                logout_uri="https://rp.example.com/bc",
                logout_token="x.y.z",
            )
        )
        db.session.commit()
    frozen_clock.advance(minutes=3)
    sent = []
    monkeypatch.setattr(logout_service, "post", lambda *a, **k: sent.append(a) or 200)
    with app.app_context():
        assert logout_service.claim_due() == []
        db.session.commit()
        row = db.session.scalar(db.select(BackchannelLogout))
        assert row.failed_at is not None and "expired" in row.last_error
    assert sent == []
